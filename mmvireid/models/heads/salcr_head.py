"""SALCR's training head: DAGL + FGSAL + GPCR."""
from typing import Dict, List, Optional, Tuple

import torch
from mmengine.model import BaseModule

from mmvireid.registry import MODELS
from mmvireid.structures import VIReIDDataSample
from mmvireid.structures.pseudo_labels import (PseudoLabelConsumer,
                                               PseudoLabels)
from ..utils.batch_pairing import check_two_modalities, pair_rows
from ..utils.label_rows import sample_labels


@MODELS.register_module()
class SALCRHead(BaseModule, PseudoLabelConsumer):
    """Global dual contrast plus part and instance terms of SALCR.

    ``L = L_dagl + L_fgsal + λ L_gpcr`` (Eq. 30,
    https://arxiv.org/abs/2504.19244): ``global_head`` (e.g.
    :class:`DualMemoryContrastHead` with ``cross_modal=True``) gives the
    DAGL losses on every batch; ``part_head`` (:class:`FGSALHead`) and
    ``instance_head`` (:class:`GPCRHead`, whose loss weight is λ) are
    added once cross-modal labels exist (pseudo-labels with
    ``cross_labels``, see :meth:`set_pseudo_labels`) and the batch has
    cross-modal pairs (:func:`pair_rows` of the two modalities, the first
    one with the channel-augmented views). Pairs sharing no pseudo-label
    in either label space (the paper's "potential positive pair"
    condition; never the case with the paired sampler) are dropped.

    A two-modality head, like its sub-heads. This head and each sub-head
    is a :class:`~mmvireid.structures.PseudoLabelConsumer`: the model hands
    every one of them the pseudo-labels directly, this head does not
    forward them. The labels of a batch come in its data samples.

    The head reads the features its sub-heads need
    (:attr:`required_features`: ``'global'``, and ``'map'`` with a part
    head) and hands the sub-heads one dict: the model's features plus the
    batch's ``'pairs'`` and, with a part head, its ``'aligned_parts'`` /
    ``'present'`` (computed once, used by FGSAL and GPCR).

    Loss keys: the global head's as they are, ``loss_part_*`` for FGSAL and
    ``loss_gpcr_*`` for GPCR. Without ``part_head``, GPCR uses the global
    positives only.

    Args:
        global_head (dict): Config of the global (DAGL) head.
        part_head (dict, optional): Config of the FGSAL head.
        instance_head (dict, optional): Config of the GPCR head; its
            ``feat_dim`` defaults to the global head's, ``num_parts`` /
            ``part_dim`` to the part head's.
        init_cfg (dict, optional): Initialisation config.

    Attributes:
        modalities (tuple[str, str], optional): The modalities of the last
            pseudo-labels (None before any).
        has_associations (bool): Whether the last pseudo-labels have
            cross-modal labels.
    """

    def __init__(self,
                 global_head: dict,
                 part_head: Optional[dict] = None,
                 instance_head: Optional[dict] = None,
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        self.global_head = MODELS.build(global_head)
        self.part_head = MODELS.build(part_head) if part_head else None
        if instance_head is not None:
            instance_head = dict(instance_head)
            instance_head.setdefault('feat_dim',
                                     global_head.get('feat_dim', 2048))
            if self.part_head is not None:
                instance_head.setdefault('num_parts', self.part_head.num_parts)
                instance_head.setdefault('part_dim',
                                         self.part_head.in_channels)
            self.instance_head = MODELS.build(instance_head)
        else:
            self.instance_head = None
        self.modalities: Optional[Tuple[str, str]] = None
        self.has_associations = False

    @property
    def sub_heads(self) -> List[BaseModule]:
        """The global head, then the part and instance heads present."""
        return [
            h for h in (self.global_head, self.part_head, self.instance_head)
            if h is not None
        ]

    @property
    def required_features(self) -> Tuple[str, ...]:
        """The union of the sub-heads' required features, in order."""
        return _union(h.required_features for h in self.sub_heads)

    @property
    def label_features(self) -> Tuple[str, ...]:
        """The union of the sub-heads' label features, in order."""
        return _union(h.label_features for h in self.sub_heads)

    @property
    def provided_features(self) -> Tuple[str, ...]:
        """Features the part head computes for the model's extraction."""
        return () if self.part_head is None else \
            tuple(self.part_head.provided_features)

    def provide_feature(self, name: str,
                        feats: Dict[str, torch.Tensor]) -> torch.Tensor:
        """A provided feature (``'parts'``), computed by the part head."""
        if name not in self.provided_features:
            raise KeyError(f'SALCRHead provides {self.provided_features}, '
                           f'not {name!r} (a part head provides \'parts\')')
        return self.part_head.provide_feature(name, feats)

    def _positive_pairs(self, pairs: torch.Tensor,
                        data_samples: List[VIReIDDataSample]) -> torch.Tensor:
        """Pairs whose members share a label in either label space (on the
        host)."""
        owner = type(self).__name__
        own = sample_labels(data_samples, 'pseudo_label', owner)
        cross = sample_labels(data_samples, 'cross_label', owner)
        first, second = pairs[:, 0], pairs[:, 2]
        lab_0, cross_0 = own[first], cross[first]
        lab_1, cross_1 = own[second], cross[second]
        keep = ((lab_0 >= 0) & (lab_0 == cross_1)) | \
            ((lab_1 >= 0) & (lab_1 == cross_0))
        return pairs[keep]

    def loss(self, feats: Dict[str, torch.Tensor],
             data_samples: List[VIReIDDataSample]) -> Dict[str, torch.Tensor]:
        """All SALCR losses of a batch.

        Args:
            feats (dict[str, Tensor]): The batch's features by name:
                ``'global'`` ``(B, D)`` (BN-neck) features and, with a part
                head, ``'map'`` ``(B, C, H, W)`` backbone maps.
            data_samples (list[VIReIDDataSample]): One per row, with
                ``pseudo_label`` and ``cross_label``.

        Returns:
            dict: The global head's losses, then ``loss_part_*`` and
            ``loss_gpcr_*`` when active.
        """
        losses = dict(self.global_head.loss(feats, data_samples))
        if (self.part_head is None and self.instance_head is None) or \
                not self.has_associations:
            return losses
        # no early return when a batch has no pair: the memory updates are
        # collective calls in distributed runs, made on every rank (with no
        # rows here)
        modalities = check_two_modalities(self.modalities, type(self).__name__)
        pairs = self._positive_pairs(
            pair_rows(data_samples, modalities), data_samples)
        feats = dict(feats, pairs=pairs)
        if self.part_head is not None:
            if 'map' not in feats:
                raise ValueError("SALCRHead with a part_head needs the "
                                 "backbone feature maps (feats['map'])")
            feats['aligned_parts'], feats['present'] = \
                self.part_head.aligned_features(feats['map'], pairs)
            losses.update(
                _prefixed(self.part_head.loss(feats, data_samples), 'part'))
        if self.instance_head is not None:
            losses.update(
                _prefixed(
                    self.instance_head.loss(feats, data_samples), 'gpcr'))
        return losses

    def set_pseudo_labels(self, pseudo_labels: PseudoLabels) -> None:
        """Take new pseudo-labels (whether they have associations).

        After clustering (``cross_labels`` empty) only the global head's
        losses are computed; after association the part and instance
        terms are active. The sub-heads receive the same object from the
        model, not from this head.

        Args:
            pseudo_labels (PseudoLabels): Labels of two modalities.

        Raises:
            ValueError: ``pseudo_labels`` has not two modalities.
        """
        pl = pseudo_labels
        self.modalities = check_two_modalities(pl.modalities,
                                               type(self).__name__)
        self.has_associations = pl.has_associations


def _union(groups) -> Tuple[str, ...]:
    """The names of several tuples, each once, in first-seen order."""
    names: List[str] = []
    for group in groups:
        names.extend(n for n in group if n not in names)
    return tuple(names)


def _prefixed(losses: Dict[str, torch.Tensor],
              name: str) -> Dict[str, torch.Tensor]:
    """``loss_x`` -> ``loss_<name>_x``."""
    return {
        f'loss_{name}_{k[5:] if k.startswith("loss_") else k}': v
        for k, v in losses.items()
    }
