"""SALCR's training head: DAGL + FGSAL + GPCR."""
from typing import Dict, List, Optional, Tuple

import torch
from mmengine.model import BaseModule

from mmvireid.registry import MODELS
from mmvireid.structures import VIReIDDataSample
from mmvireid.structures.pseudo_labels import (PseudoLabelConsumer,
                                               PseudoLabels)
from ..utils.batch_pairing import check_two_modalities, pair_rows
from ..utils.label_buffers import label_buffers
from ..utils.resizable_buffers import ResizableBuffersMixin


@MODELS.register_module()
class SALCRHead(ResizableBuffersMixin, BaseModule, PseudoLabelConsumer):
    """Global dual contrast plus part and instance terms of SALCR.

    ``L = L_dagl + L_fgsal + λ L_gpcr`` (Eq. 30,
    https://arxiv.org/abs/2504.19244): ``global_head`` (e.g.
    :class:`DualMemoryContrastHead` with ``cross_modal=True``) gives the
    DAGL losses on every batch; ``part_head`` (:class:`FGSALHead`) and
    ``instance_head`` (:class:`GPCRHead`, whose ``loss_weight`` is λ) are
    added once cross-modal labels exist (pseudo-labels with
    ``cross_labels``, see :meth:`set_pseudo_labels`) and the batch has
    cross-modal pairs (:func:`pair_rows` of the two modalities, the first
    one with the channel-augmented views). Pairs sharing no pseudo-label
    in either label space (the paper's "potential positive pair"
    condition; never the case with the paired sampler) are dropped.

    A two-modality head, like its sub-heads. This head and each sub-head
    is a :class:`~mmvireid.structures.PseudoLabelConsumer`: the model hands
    every one of them the pseudo-labels directly, this head does not
    forward them.

    Loss keys: the global head's as they are, ``loss_part_*`` for FGSAL and
    ``loss_gpcr_*`` for GPCR. Without ``part_head``, GPCR uses the global
    positives only. The model passes the backbone maps to
    :meth:`loss` because :attr:`uses_feature_maps` is True.

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
        labels (Tensor): ``(N,)`` own cluster of each training sample.
        cross_labels (Tensor): ``(N,)`` associated cluster of the other
            modality (``-1`` for none).
    """

    resizable_buffers = ('labels', 'cross_labels')

    uses_feature_maps = True

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
        self.register_buffer('labels', torch.zeros(0, dtype=torch.long))
        self.register_buffer('cross_labels', torch.zeros(0, dtype=torch.long))

    @property
    def has_associations(self) -> bool:
        """Whether cross-modal labels exist."""
        return bool((self.cross_labels >= 0).any())

    def _positive_pairs(self, pairs: torch.Tensor,
                        data_samples: List[VIReIDDataSample]) -> torch.Tensor:
        """Pairs whose members share a label in either label space."""
        index = torch.tensor([s.sample_idx for s in data_samples],
                             device=self.labels.device)
        first = index[pairs[:, 0].to(index.device)]
        second = index[pairs[:, 2].to(index.device)]
        lab_0, cross_0 = self.labels[first], self.cross_labels[first]
        lab_1, cross_1 = self.labels[second], self.cross_labels[second]
        keep = ((lab_0 >= 0) & (lab_0 == cross_1)) | \
            ((lab_1 >= 0) & (lab_1 == cross_0))
        return pairs[keep.to(pairs.device)]

    def loss(
            self,
            global_feats: torch.Tensor,
            data_samples: List[VIReIDDataSample],
            feat_maps: Optional[torch.Tensor] = None
    ) -> Dict[str, torch.Tensor]:
        """All SALCR losses of a batch.

        Args:
            global_feats (Tensor): ``(B, D)`` global (BN-neck) features.
            data_samples (list[VIReIDDataSample]): One per row.
            feat_maps (Tensor, optional): ``(B, C, H, W)`` backbone maps,
                required by the part head.

        Returns:
            dict: The global head's losses, then ``loss_part_*`` and
            ``loss_gpcr_*`` when active.
        """
        losses = dict(self.global_head.loss(global_feats, data_samples))
        if (self.part_head is None and self.instance_head is None) or \
                not self.has_associations:
            return losses
        # no early return when a batch has no pair: the memory updates are
        # collective calls in distributed runs, made on every rank (with no
        # rows here)
        modalities = check_two_modalities(self.modalities, type(self).__name__)
        pairs = self._positive_pairs(
            pair_rows(data_samples, modalities), data_samples)
        aligned = None
        if self.part_head is not None:
            if feat_maps is None:
                raise ValueError('SALCRHead with a part_head needs the '
                                 'backbone feature maps (feat_maps)')
            aligned, present = self.part_head.aligned_features(
                feat_maps, pairs)
            losses.update(
                _prefixed(
                    self.part_head.loss_by_feat(aligned, present, pairs,
                                                data_samples), 'part'))
        if self.instance_head is not None:
            losses.update(
                _prefixed(
                    self.instance_head.loss(
                        global_feats, data_samples, pairs, part_feats=aligned),
                    'gpcr'))
        return losses

    def part_features(self, feat_map: torch.Tensor) -> torch.Tensor:
        """Own-stripe part features ``(B, P, C)`` of the part head."""
        if self.part_head is None:
            raise RuntimeError('SALCRHead has no part_head: part features '
                               'cannot be extracted')
        return self.part_head.part_features(feat_map)

    def set_pseudo_labels(self, pseudo_labels: PseudoLabels) -> None:
        """Take new pseudo-labels (this head's own label buffers only).

        After clustering (``cross_labels`` empty) no cross label exists
        (``-1`` everywhere) and only the global head's losses are
        computed; after association each sample has its cross label
        (:meth:`PseudoLabels.merged_cross_labels`) and the part and
        instance terms are active. The sub-heads receive the same object
        from the model, not from this head.

        Args:
            pseudo_labels (PseudoLabels): Labels of two modalities.

        Raises:
            ValueError: ``pseudo_labels`` has not two modalities.
        """
        pl = pseudo_labels
        self.modalities = check_two_modalities(pl.modalities,
                                               type(self).__name__)
        self.labels, self.cross_labels = label_buffers(pl, self.labels.device)

    def reinit_part_modules(self) -> None:
        """Fresh FGSAL parameters (part prototypes, part BN): the stage
        switch."""
        if self.part_head is not None:
            self.part_head.reset_parameters()


def _prefixed(losses: Dict[str, torch.Tensor],
              name: str) -> Dict[str, torch.Tensor]:
    """``loss_x`` -> ``loss_<name>_x``."""
    return {
        f'loss_{name}_{k[5:] if k.startswith("loss_") else k}': v
        for k, v in losses.items()
    }
