"""Cluster-contrast losses against one memory per modality."""
from typing import Dict, List, Optional, Sequence, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmengine.model import BaseModule

from mmvireid.registry import MODELS
from mmvireid.structures import VIReIDDataSample
from mmvireid.structures.pseudo_labels import (PseudoLabelConsumer,
                                               PseudoLabels)
from ..utils.batch_pairing import check_two_modalities, modality_positions
from ..utils.label_rows import sample_labels


@MODELS.register_module()
class DualMemoryContrastHead(BaseModule, PseudoLabelConsumer):
    """Contrast features with one cluster memory per modality.

    ``num_modalities`` memories (2 by default), each built from ``memory``
    (a :class:`ClusterMemory` by default) and scored by ``loss`` (a
    :class:`ClusterContrastLoss` by default). The head learns the
    modalities from the pseudo-labels it receives
    (:meth:`set_pseudo_labels`) and refers to them by position:
    ``memories[m]`` is the memory of modality ``modalities[m]``, e.g. the
    first or second of two declared modalities, or of three with a
    virtual channel-augmented modality (intra-modality terms only).

    Intra-modality terms (the DCL baseline of ADCA / SALCR stage 1): each
    feature of modality ``m`` (plain and channel-augmented views alike,
    they carry the same ``modality``) against ``memories[m]`` with its own
    cluster label, the data sample's ``pseudo_label`` (``loss_<m>``, named
    after the modality).

    Cross-modality terms (SALCR's DAGL global dual contrast, Eq. 8), once
    an association exists and ``cross_modal=True``: each feature of the
    other modality also against ``memories[m]`` with its associated
    cluster of modality ``m``, the data sample's ``cross_label``
    (``loss_cross_<m>``).

    The labels come with the batch (the model writes them into the data
    samples); the head keeps no copy. Outliers (−1) contribute nothing; a
    modality without clusters skips its terms.

    Args:
        feat_dim (int): Feature dimension (the memories' ``feat_dim``).
        memory (dict, optional): Config of each modality's memory; its
            ``feat_dim`` is set from ``feat_dim``. Defaults to
            ``dict(type='ClusterMemory', temperature=0.05, momentum=0.1)``
            (μ weights the OLD prototype).
        loss (dict, optional): Config of the loss, called as
            ``loss(features, labels, memory)``. Defaults to
            ``dict(type='ClusterContrastLoss', loss_weight=1.0)``.
        cross_modal (bool): Add the cross-modality terms when associations
            are available. Defaults to False.
        num_modalities (int): Memories, one per modality (e.g. 3 with a
            virtual channel-augmented modality); the cross-modality terms
            need 2. Defaults to 2.
        init_cfg (dict, optional): Initialisation config.

    Attributes:
        modalities (tuple[str, ...], optional): The modalities of the last
            pseudo-labels (None before any).
        memories (nn.ModuleList): The memories, by modality position.
    """

    #: features of the batch the head reads (``ReIDer.extract`` names)
    required_features = ('global', )
    #: features the label pipeline extracts for :meth:`set_pseudo_labels`
    label_features = ('global', )

    def __init__(self,
                 feat_dim: int,
                 memory: Optional[dict] = None,
                 loss: Optional[dict] = None,
                 cross_modal: bool = False,
                 num_modalities: int = 2,
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        if num_modalities < 1:
            raise ValueError('DualMemoryContrastHead: num_modalities must be '
                             f'>= 1, got {num_modalities}')
        if cross_modal and num_modalities != 2:
            raise ValueError('DualMemoryContrastHead: cross_modal terms need '
                             f'two modalities, got num_modalities='
                             f'{num_modalities}')
        self.num_modalities = num_modalities
        memory = dict(
            dict(type='ClusterMemory', temperature=0.05, momentum=0.1),
            **(memory or {}))
        memory['feat_dim'] = feat_dim
        self.memories = nn.ModuleList(
            [MODELS.build(memory) for _ in range(num_modalities)])
        self.loss_fn = MODELS.build(
            dict(dict(type='ClusterContrastLoss'), **(loss or {})))
        self.cross_modal = cross_modal
        self.modalities: Optional[Tuple[str, ...]] = None

    def set_pseudo_labels(self, pseudo_labels: PseudoLabels) -> None:
        """Take new pseudo-labels: reset the memories.

        ``memories[m]`` restarts from the normalised centroids of modality
        ``m``'s clusters in ``pseudo_labels.features``, after clustering
        and again after an association (the intra labels may have been
        re-assigned then, e.g. by CMFP(tr)). Without ``features`` (labels
        restored from a checkpoint, not re-extracted) the memories are kept
        as they are: they were loaded from the same checkpoint.

        Args:
            pseudo_labels (PseudoLabels): Labels of ``num_modalities``
                modalities.

        Raises:
            ValueError: ``pseudo_labels`` has another number of
                modalities.
        """
        pl = pseudo_labels
        self.modalities = self._checked(pl.modalities)
        if pl.features is not None:
            for m, memory in enumerate(self.memories):
                mask = pl.modality_ids == m
                memory.reset(pl.features[mask], pl.labels[mask])

    def _checked(self, modalities: Optional[Sequence[str]]) -> tuple:
        """The ``num_modalities`` modalities, validated."""
        if self.num_modalities == 2:
            return check_two_modalities(modalities, type(self).__name__)
        if modalities is None or len(modalities) != self.num_modalities:
            raise ValueError(
                f'DualMemoryContrastHead(num_modalities='
                f'{self.num_modalities}) got pseudo-labels of the modalities '
                f'{modalities}' if modalities is not None else
                'DualMemoryContrastHead has no pseudo-labels yet: the label '
                'pipeline must hand them over (set_pseudo_labels) before '
                'the first training step')
        return tuple(modalities)

    def loss(self, feats: Dict[str, torch.Tensor],
             data_samples: List[VIReIDDataSample]) -> Dict[str, torch.Tensor]:
        """Contrastive losses of a batch (any mix of modalities/views).

        Args:
            feats (dict[str, Tensor]): The batch's features by name;
                ``'global'`` ``(B, D)`` is used.
            data_samples (list[VIReIDDataSample]): One per row, with
                ``modality`` (one of :attr:`modalities`), ``pseudo_label``
                and, with ``cross_modal``, ``cross_label``.

        Returns:
            dict: ``loss_<m>`` and, with ``cross_modal``, ``loss_cross_<m>``
            for each modality ``m`` in order (for modalities ``(a, b)``:
            ``loss_a``, ``loss_cross_a``, ``loss_b``, ``loss_cross_b``).

        Raises:
            ValueError: No pseudo-labels yet, a row of another modality or
                a data sample without its labels.
        """
        owner = type(self).__name__
        modalities = self._checked(self.modalities)
        position = torch.tensor(
            modality_positions(data_samples, modalities, owner),
            dtype=torch.long)
        own = sample_labels(data_samples, 'pseudo_label', owner)
        cross = sample_labels(data_samples, 'cross_label',
                              owner) if self.cross_modal else None
        feats = F.normalize(feats['global'], dim=1)
        losses, updates = {}, []
        for m, memory in enumerate(self.memories):
            name = modalities[m]
            # rows on the host (no device synchronisation)
            rows = torch.nonzero(position == m).flatten()
            others = torch.nonzero(position != m).flatten()
            mine = feats.index_select(0, rows.to(feats.device))
            losses[f'loss_{name}'] = self.loss_fn(mine, own[rows], memory)
            updates.append((memory, rows, own[rows]))
            if self.cross_modal:
                theirs = feats.index_select(0, others.to(feats.device))
                losses[f'loss_cross_{name}'] = self.loss_fn(
                    theirs, cross[others], memory)
                updates.append((memory, others, cross[others]))
        # as Cluster-Contrast's memory, every (feature, label) pair used by
        # a memory's loss then updates that memory (after the loss); the
        # updates are collective calls in distributed runs, made on every
        # rank even with no row
        detached = feats.detach()
        for memory, rows, labels in updates:
            memory.update(
                detached.index_select(0, rows.to(detached.device)), labels)
        return losses
