"""The one object the label pipeline produces and every consumer receives."""
from abc import ABCMeta, abstractmethod
from dataclasses import dataclass, field, replace
from typing import Dict, Optional, Sequence, Tuple

import torch

#: separator of ``cross_labels`` / ``plans`` keys: ``'infrared->visible'``
PAIR_SEP = '->'


def pair_key(source: str, destination: str) -> str:
    """Key of an ordered modality pair in ``cross_labels`` / ``plans``."""
    return f'{source}{PAIR_SEP}{destination}'


@dataclass
class PseudoLabels:
    """Pseudo-labels of a training set at one epoch.

    Row ``i`` of every per-sample tensor is dataset index ``i``
    (``sample_idx``). All tensors live on the CPU.

    Attributes:
        modalities (tuple[str]): The declared modalities (dataset
            metainfo ``modalities``), in order; ``modality_ids`` index it.
        modality_ids (Tensor): ``(N,)`` int64 modality of each sample.
        labels (Tensor): ``(N,)`` int64 cluster of each sample in its
            modality's own label space ``0..K_m-1``; ``-1`` marks outliers.
        features (Tensor, optional): ``(N, D)`` float32 L2-normalised
            features the labels were computed from (None after a resume
            that did not re-extract).
        part_features (Tensor, optional): ``(N, P, C)`` float32 part
            features, when a head asked for them.
        pids (Tensor, optional): ``(N,)`` int64 true ids: diagnostics only
            (cluster purity, association accuracy), never a training signal.
        cross_labels (dict[str, Tensor]): ``'src->dst'`` (see
            :func:`pair_key`) → ``(N,)`` int64: for each sample of ``src``
            the ``dst`` cluster it is associated with, ``-1`` elsewhere.
            Empty before any association.
        plans (dict[str, Tensor]): ``'src->dst'`` → the associator's soft
            plan (e.g. ``(n_src_kept, K_dst)``), when it has one.
        centroids (dict[str, Tensor]): modality → ``(K_m, D)`` centroids.
        weights (Tensor, optional): ``(N,)`` float32 per-sample reliability
            (1 = fully trusted), for components that weight samples.
        view_sources (Tensor, optional): ``(N,)`` int64: for a sample that
            is a view of another one (a virtual modality's, e.g. the
            channel-augmented copy of a visible image) the dataset index
            of that image, ``-1`` for every other sample; None when the
            training set has no such views.
        epoch (int): The (0-based) epoch the labels were made for.
    """

    modalities: Tuple[str, ...]
    modality_ids: torch.Tensor
    labels: torch.Tensor
    features: Optional[torch.Tensor] = None
    part_features: Optional[torch.Tensor] = None
    pids: Optional[torch.Tensor] = None
    cross_labels: Dict[str, torch.Tensor] = field(default_factory=dict)
    plans: Dict[str, torch.Tensor] = field(default_factory=dict)
    centroids: Dict[str, torch.Tensor] = field(default_factory=dict)
    weights: Optional[torch.Tensor] = None
    view_sources: Optional[torch.Tensor] = None
    epoch: int = 0

    def __post_init__(self) -> None:
        self.modalities = tuple(self.modalities)
        if len(set(self.modalities)) != len(self.modalities):
            raise ValueError(f'PseudoLabels: repeated modality in '
                             f'{self.modalities}')
        self.modality_ids = torch.as_tensor(self.modality_ids).long()
        self.labels = torch.as_tensor(self.labels).long()
        num = len(self.labels)
        if self.modality_ids.shape != (num, ):
            raise ValueError(f'PseudoLabels: modality_ids of shape '
                             f'{tuple(self.modality_ids.shape)} for {num} '
                             'labels')
        if num and not (0 <= int(self.modality_ids.min()) and int(
                self.modality_ids.max()) < len(self.modalities)):
            raise ValueError('PseudoLabels: modality_ids outside 0..'
                             f'{len(self.modalities) - 1}')
        if self.view_sources is not None:
            self.view_sources = torch.as_tensor(self.view_sources).long()
        for name in ('features', 'part_features', 'pids', 'weights',
                     'view_sources'):
            value = getattr(self, name)
            if value is not None and len(value) != num:
                raise ValueError(f'PseudoLabels: {name} has {len(value)} '
                                 f'rows for {num} samples')
        for key, value in self.cross_labels.items():
            self.split_key(key)
            if value.shape != (num, ):
                raise ValueError(f'PseudoLabels: cross_labels[{key!r}] of '
                                 f'shape {tuple(value.shape)}, expected '
                                 f'({num},)')

    # ------------------------------------------------------------ queries
    @property
    def num_samples(self) -> int:
        """Number of samples ``N``."""
        return len(self.labels)

    @property
    def has_associations(self) -> bool:
        """Whether any cross-modal label exists."""
        return any(bool((v >= 0).any()) for v in self.cross_labels.values())

    def split_key(self, key: str) -> Tuple[str, str]:
        """``'src->dst'`` → ``(src, dst)``, both declared modalities."""
        parts = key.split(PAIR_SEP)
        if len(parts) != 2 or not set(parts) <= set(self.modalities):
            raise ValueError(f'PseudoLabels: bad pair key {key!r} (expected '
                             f"'src{PAIR_SEP}dst' of {self.modalities})")
        return parts[0], parts[1]

    def mask(self, modality: str) -> torch.Tensor:
        """``(N,)`` bool mask of the samples of ``modality``."""
        if modality not in self.modalities:
            raise KeyError(f'PseudoLabels: unknown modality {modality!r}; '
                           f'declared: {self.modalities}')
        return self.modality_ids == self.modalities.index(modality)

    def indices(self, modality: str) -> torch.Tensor:
        """Dataset indices of the samples of ``modality``."""
        return torch.nonzero(self.mask(modality)).flatten()

    def num_clusters(self, modality: str) -> int:
        """Clusters ``K_m`` of ``modality`` (its largest label + 1)."""
        labels = self.labels[self.mask(modality)]
        return int(labels.max()) + 1 if len(labels) and (labels >= 0).any() \
            else 0

    def merged_cross_labels(self) -> torch.Tensor:
        """``(N,)`` the one cross label of each sample (``-1`` for none).

        For methods where each sample is associated with at most one other
        modality (visible ↔ infrared).

        Raises:
            ValueError: A sample has cross labels of two pairs.
        """
        merged = torch.full_like(self.labels, -1)
        for key, value in self.cross_labels.items():
            both = (merged >= 0) & (value >= 0)
            if both.any():
                raise ValueError('PseudoLabels: samples with cross labels of '
                                 f'several pairs (e.g. {key!r}): use '
                                 'cross_labels[pair] instead')
            merged = torch.where(value >= 0, value, merged)
        return merged

    def label_table(self) -> Tuple[torch.Tensor, torch.Tensor]:
        """``(labels, cross_labels)`` of every sample, ``(N,)`` each.

        ``labels`` is a copy (the pipeline may go on editing its own in
        place); ``cross_labels`` is :meth:`merged_cross_labels` after an
        association, ``-1`` everywhere before one. What the model writes
        into each training data sample (``pseudo_label``,
        ``cross_label``).
        """
        labels = self.labels.clone()
        if not self.cross_labels:
            return labels, torch.full_like(labels, -1)
        return labels, self.merged_cross_labels()

    def with_fields(self, **changes) -> 'PseudoLabels':
        """A copy with some fields replaced (validated again)."""
        return replace(self, **changes)

    # --------------------------------------------------------- checkpoint
    def state_dict(self) -> dict:
        """What a checkpoint keeps: the labels, not the features."""
        state = dict(
            modalities=list(self.modalities),
            modality_ids=self.modality_ids,
            labels=self.labels,
            cross_labels=dict(self.cross_labels),
            epoch=int(self.epoch))
        if self.pids is not None:
            state['pids'] = self.pids
        if self.weights is not None:
            state['weights'] = self.weights
        return state

    @classmethod
    def from_state_dict(cls, state: dict) -> 'PseudoLabels':
        """Inverse of :meth:`state_dict` (features are None)."""
        return cls(
            modalities=tuple(state['modalities']),
            modality_ids=state['modality_ids'],
            labels=state['labels'],
            pids=state.get('pids'),
            weights=state.get('weights'),
            cross_labels=dict(state.get('cross_labels', {})),
            epoch=int(state.get('epoch', 0)))

    @classmethod
    def from_modality_names(cls, names: Sequence[str],
                            modalities: Sequence[str], labels,
                            **kwargs) -> 'PseudoLabels':
        """Build from one modality name per sample."""
        modalities = tuple(modalities)
        unknown = sorted(set(names) - set(modalities))
        if unknown:
            raise ValueError(f'PseudoLabels: samples of modalities {unknown} '
                             f'not declared in {modalities}')
        index = {m: i for i, m in enumerate(modalities)}
        ids = torch.tensor([index[n] for n in names], dtype=torch.long)
        return cls(
            modalities=modalities, modality_ids=ids, labels=labels, **kwargs)


class PseudoLabelConsumer(metaclass=ABCMeta):
    """Interface of everything that receives pseudo-labels.

    The label pipeline hands each new :class:`PseudoLabels` to the model
    (``model.set_pseudo_labels``), which hands it to every sub-module that
    is a ``PseudoLabelConsumer`` (heads, memories' owners, prompt learners),
    and to the train sampler. A consumer is called once per new set of
    labels (after clustering, again after association), on every rank with
    the same object, before the epoch's first step.
    """

    @abstractmethod
    def set_pseudo_labels(self, pseudo_labels: PseudoLabels) -> None:
        """Take this epoch's pseudo-labels."""
