"""Cluster-contrast losses against one memory per modality."""
from typing import Dict, List, Optional

import numpy as np
import torch
import torch.nn.functional as F
from mmengine.model import BaseModule

from mmvireid.registry import MODELS
from mmvireid.structures import VIReIDDataSample
from ..utils.resizable_buffers import ResizableBuffersMixin


@MODELS.register_module()
class DualMemoryContrastHead(ResizableBuffersMixin, BaseModule):
    """Contrast features with a visible and an infrared cluster memory.

    Intra-modality terms (the DCL baseline of ADCA / SALCR stage 1): each
    visible feature (plain and channel-augmented views) against the visible
    memory with its visible cluster label, each infrared feature against the
    infrared memory with its infrared label.

    Cross-modality terms (SALCR's DAGL global dual contrast, Eq. 8), once an
    association exists and ``cross_modal=True``: each visible feature also
    against the infrared memory with its associated infrared cluster, each
    infrared feature against the visible memory with its associated visible
    cluster.

    Labels are looked up by ``sample_idx`` in buffers filled by the
    clustering and association hooks (through the model), so they are saved
    in checkpoints with the memories. Outliers (−1) contribute nothing; a
    modality without clusters skips its terms.

    Args:
        feat_dim (int): Feature dimension.
        temperature (float): τ of the contrast. Defaults to 0.05.
        momentum (float): μ of the memory update (weight of the OLD
            prototype). Defaults to 0.1.
        cross_modal (bool): Add the cross-modality terms when associations
            are available. Defaults to False.
        loss_weight (float): Multiplier of every term. Defaults to 1.
    """

    resizable_buffers = ('labels', 'cross_labels')

    def __init__(self,
                 feat_dim: int,
                 temperature: float = 0.05,
                 momentum: float = 0.1,
                 cross_modal: bool = False,
                 loss_weight: float = 1.0,
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        memory = dict(
            type='ClusterMemory',
            feat_dim=feat_dim,
            temperature=temperature,
            momentum=momentum)
        self.memory_visible = MODELS.build(memory)
        self.memory_infrared = MODELS.build(memory)
        self.cross_modal = cross_modal
        self.loss_weight = loss_weight
        self.register_buffer('labels', torch.zeros(0, dtype=torch.long))
        self.register_buffer('cross_labels', torch.zeros(0, dtype=torch.long))

    def update_clusters(self, result: dict) -> None:
        """New intra-modality labels: reset both memories to centroids."""
        self._reset(result)
        self.cross_labels = torch.full_like(self.labels, -1)

    def update_associations(self, result: dict) -> None:
        """Cross labels of the OT association. Its intra labels may have
        been re-assigned (CMFP(tr)); the memories are then re-initialised
        from the centroids of the new labels."""
        self._reset(result)
        self.cross_labels = torch.as_tensor(
            np.asarray(result['cross_labels'])).to(self.labels.device)

    def _reset(self, result: dict) -> None:
        labels = torch.as_tensor(np.asarray(result['labels']))
        infrared = torch.as_tensor(np.asarray(result['infrared']))
        self.labels = labels.to(self.labels.device)
        feats = result['features']
        for memory, mask in ((self.memory_visible, ~infrared),
                             (self.memory_infrared, infrared)):
            memory.reset(feats[mask], labels[mask])

    def loss(self, feats: torch.Tensor,
             data_samples: List[VIReIDDataSample]) -> Dict[str, torch.Tensor]:
        """Contrastive losses of a batch (any mix of modalities/views)."""
        if not len(self.labels):
            raise RuntimeError(
                'DualMemoryContrastHead has no pseudo-labels: add a '
                'ClusteringHook to the config (custom_hooks)')
        index = torch.tensor([s.sample_idx for s in data_samples],
                             device=self.labels.device)
        infrared = torch.tensor(
            [s.modality == 'infrared' for s in data_samples],
            device=feats.device)
        own = self.labels[index].to(feats.device)
        cross = self.cross_labels[index].to(feats.device)
        feats = F.normalize(feats, dim=1)
        losses, updates = {}, []
        for name, memory, mask in (('visible', self.memory_visible, ~infrared),
                                   ('infrared', self.memory_infrared,
                                    infrared)):
            losses[f'loss_{name}'] = self.loss_weight * memory.loss(
                feats[mask], own[mask])
            updates.append((memory, mask, own))
            if self.cross_modal:
                losses[f'loss_cross_{name}'] = self.loss_weight * \
                    memory.loss(feats[~mask], cross[~mask])
                updates.append((memory, ~mask, cross))
        # as Cluster-Contrast's memory, every (feature, label) pair used by
        # a memory's loss then updates that memory (after the loss)
        detached = feats.detach()
        for memory, mask, labels in updates:
            memory.update(detached[mask], labels[mask])
        return losses
