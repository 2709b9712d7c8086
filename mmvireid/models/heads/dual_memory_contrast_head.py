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
from ..utils.label_buffers import label_buffers
from ..utils.resizable_buffers import ResizableBuffersMixin


@MODELS.register_module()
class DualMemoryContrastHead(ResizableBuffersMixin, BaseModule,
                             PseudoLabelConsumer):
    """Contrast features with one cluster memory per modality.

    ``num_modalities`` memories (2 by default). The head learns the
    modalities from the pseudo-labels it receives (:meth:`set_pseudo_labels`)
    and refers to them by position: ``memories[m]`` is the
    :class:`ClusterMemory` of modality ``modalities[m]``, e.g.
    ``('visible', 'infrared')``, or ``('visible', 'infrared', 'augmented')``
    with a virtual modality (intra-modality terms only).

    Intra-modality terms (the DCL baseline of ADCA / SALCR stage 1): each
    feature of modality ``m`` (plain and channel-augmented views alike,
    they carry the same ``modality``) against ``memories[m]`` with its own
    cluster label (``loss_<modalities[m]>``).

    Cross-modality terms (SALCR's DAGL global dual contrast, Eq. 8), once
    an association exists and ``cross_modal=True``: each feature of the
    other modality also against ``memories[m]`` with its associated
    cluster of modality ``m`` (``loss_cross_<modalities[m]>``).

    Labels are looked up by ``sample_idx`` in buffers filled by
    :meth:`set_pseudo_labels`, so they are saved in checkpoints with the
    memories. Outliers (−1) contribute nothing; a modality without clusters
    skips its terms.

    Args:
        feat_dim (int): Feature dimension.
        temperature (float): τ of the contrast. Defaults to 0.05.
        momentum (float): μ of the memory update (weight of the OLD
            prototype). Defaults to 0.1.
        cross_modal (bool): Add the cross-modality terms when associations
            are available. Defaults to False.
        loss_weight (float): Multiplier of every term. Defaults to 1.
        num_modalities (int): Memories, one per modality (e.g. 3 with a
            virtual channel-augmented modality); the cross-modality terms
            need 2. Defaults to 2.
        init_cfg (dict, optional): Initialisation config.

    Attributes:
        modalities (tuple[str, str], optional): The modalities of the last
            pseudo-labels (None before any).
        memories (nn.ModuleList): The two cluster memories, by modality
            position.
        labels (Tensor): ``(N,)`` own cluster of each training sample.
        cross_labels (Tensor): ``(N,)`` associated cluster of the other
            modality (``-1`` for none).
    """

    resizable_buffers = ('labels', 'cross_labels')

    def __init__(self,
                 feat_dim: int,
                 temperature: float = 0.05,
                 momentum: float = 0.1,
                 cross_modal: bool = False,
                 loss_weight: float = 1.0,
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
            type='ClusterMemory',
            feat_dim=feat_dim,
            temperature=temperature,
            momentum=momentum)
        self.memories = nn.ModuleList(
            [MODELS.build(memory) for _ in range(num_modalities)])
        self.cross_modal = cross_modal
        self.loss_weight = loss_weight
        self.modalities: Optional[Tuple[str, str]] = None
        self.register_buffer('labels', torch.zeros(0, dtype=torch.long))
        self.register_buffer('cross_labels', torch.zeros(0, dtype=torch.long))

    def set_pseudo_labels(self, pseudo_labels: PseudoLabels) -> None:
        """Take new pseudo-labels: labels, cross labels, memories.

        Both cases reset ``memories[m]`` to the normalised centroids of
        modality ``m``'s clusters in ``pseudo_labels.features`` (after an
        association the intra labels may have been re-assigned, e.g. by
        CMFP(tr)):

        - after clustering (``cross_labels`` empty): no cross label
          (``-1`` everywhere);
        - after association: the cross label of each sample
          (:meth:`PseudoLabels.merged_cross_labels`).

        Without ``features`` (labels restored from a checkpoint, not
        re-extracted) the memories are kept as they are: they were loaded
        from the same checkpoint.

        Args:
            pseudo_labels (PseudoLabels): Labels of two modalities.

        Raises:
            ValueError: ``pseudo_labels`` has not two modalities.
        """
        pl = pseudo_labels
        self.modalities = self._checked(pl.modalities)
        self.labels, self.cross_labels = label_buffers(pl, self.labels.device)
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

    def loss(self, feats: torch.Tensor,
             data_samples: List[VIReIDDataSample]) -> Dict[str, torch.Tensor]:
        """Contrastive losses of a batch (any mix of modalities/views).

        Args:
            feats (Tensor): ``(B, D)`` features.
            data_samples (list[VIReIDDataSample]): One per row, with
                ``sample_idx`` and ``modality`` (one of :attr:`modalities`).

        Returns:
            dict: ``loss_<m>`` and, with ``cross_modal``, ``loss_cross_<m>``
            for each modality ``m`` in order (e.g. ``loss_visible``,
            ``loss_cross_visible``, ``loss_infrared``,
            ``loss_cross_infrared``).

        Raises:
            ValueError: No pseudo-labels yet, or a row of another modality.
        """
        owner = type(self).__name__
        modalities = self._checked(self.modalities)
        index = torch.tensor([s.sample_idx for s in data_samples],
                             device=self.labels.device)
        position = torch.tensor(
            modality_positions(data_samples, modalities, owner),
            dtype=torch.long,
            device=feats.device)
        own = self.labels[index].to(feats.device)
        cross = self.cross_labels[index].to(feats.device)
        feats = F.normalize(feats, dim=1)
        losses, updates = {}, []
        for m, memory in enumerate(self.memories):
            name = modalities[m]
            mask = position == m
            losses[f'loss_{name}'] = self.loss_weight * memory.loss(
                feats[mask], own[mask])
            updates.append((memory, mask, own))
            if self.cross_modal:
                losses[f'loss_cross_{name}'] = self.loss_weight * \
                    memory.loss(feats[~mask], cross[~mask])
                updates.append((memory, ~mask, cross))
        # as Cluster-Contrast's memory, every (feature, label) pair used by
        # a memory's loss then updates that memory (after the loss); the
        # updates are collective calls in distributed runs, made on every
        # rank even with no row
        detached = feats.detach()
        for memory, mask, labels in updates:
            memory.update(detached[mask], labels[mask])
        return losses
