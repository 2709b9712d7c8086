"""MCF's uniform merging: split clusters of one identity share a label."""
from typing import Optional

import torch
import torch.nn as nn

from mmvireid.registry import MODELS
from ..memories.base_memory import BaseMemory
from ..utils.label_rows import valid_rows
from .multi_positive_contrast_loss import MultiPositiveContrastLoss


def cluster_groups(labels: torch.Tensor, cross_labels: torch.Tensor,
                   num_clusters: int) -> torch.Tensor:
    """The cross-modal cluster each cluster of a modality is linked to.

    A cluster's group is the most frequent cross label of its instances
    (with a cluster-level associator such as VRA all its instances share
    it; ties go to the smallest cluster id), ``-1`` for a cluster none of
    whose instances has one. Clusters of one modality with the same group
    were matched to the same cluster of the other modality: MCF's uniform
    merging treats them as one identity.

    Args:
        labels (Tensor): ``(n,)`` int64 clusters ``0..K-1`` of one
            modality's instances, ``-1`` for outliers.
        cross_labels (Tensor): ``(n,)`` int64 their associated clusters of
            the other modality, ``-1`` for none.
        num_clusters (int): ``K``.

    Returns:
        Tensor: ``(K,)`` int64 group of each cluster.
    """
    labels, cross_labels = labels.long(), cross_labels.long()
    keep = (labels >= 0) & (cross_labels >= 0)
    groups = torch.full((num_clusters, ), -1, dtype=torch.long)
    if not bool(keep.any()):
        return groups
    labels, cross_labels = labels[keep], cross_labels[keep]
    width = int(cross_labels.max()) + 1
    counts = torch.bincount(
        labels * width + cross_labels,
        minlength=num_clusters * width).view(num_clusters, width)
    best = counts.argmax(1)  # the first maximum: the smallest cluster id
    linked = counts.amax(1) > 0
    groups[linked] = best[linked]
    return groups


@MODELS.register_module()
class UniformMergingLoss(nn.Module):
    """Multi-positive contrast over the merged clusters of a row's group.

    For a feature of cluster ``y`` (of its modality) whose group
    (:func:`cluster_groups`: the cross-modal cluster ``y`` is linked to) is
    ``g``, every cluster of the same modality in group ``g`` is a positive
    entry of that modality's memory: ``-log Σ_{k: group(k) = g}
    softmax(f · Mᵀ / τ)_k`` (paper Sec. 3.5, with the alternating
    contrast of PGM; the weight is δ1 = 0.6 for visible, δ2 = 0.4 for
    infrared in MCF's configs). Rows that are outliers or whose cluster
    has no group are left out; with none left the loss is a zero that
    keeps the graph.

    Args:
        loss_weight (float): Multiplier (δ of the modality). Defaults to 1.
    """

    def __init__(self, loss_weight: float = 1.0) -> None:
        super().__init__()
        self.loss_weight = loss_weight
        self.contrast = MultiPositiveContrastLoss()

    def forward(self, features: torch.Tensor, labels: torch.Tensor,
                groups: torch.Tensor, memory: BaseMemory) -> torch.Tensor:
        """The weighted loss of a batch of one modality.

        Args:
            features (Tensor): ``(B, D)`` features of the modality.
            labels (Tensor): ``(B,)`` their clusters in ``memory``.
            groups (Tensor): ``(K,)`` group of each of the memory's
                clusters (:func:`cluster_groups`).
            memory (BaseMemory): The modality's cluster memory.

        Returns:
            Tensor: Scalar loss.
        """
        if len(groups) != memory.num_entries:
            raise ValueError(
                f'UniformMergingLoss: {len(groups)} cluster groups for a '
                f'memory of {memory.num_entries} entries')
        rows = valid_rows(labels, memory.num_entries)
        rows = rows[groups[labels[rows].long()] >= 0]
        if not len(rows):
            return features.sum() * 0
        device = features.device
        row_groups = groups[labels[rows].long()].to(device)
        positives = groups.to(device)[None, :] == row_groups[:, None]
        logits = memory.logits(features.index_select(0, rows.to(device)))
        loss: Optional[torch.Tensor] = self.contrast(
            logits, positives, torch.ones_like(row_groups, dtype=torch.bool))
        return self.loss_weight * loss
