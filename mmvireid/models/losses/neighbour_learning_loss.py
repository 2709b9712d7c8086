"""Neighbour learning against instance memories, in every direction."""
from typing import Dict, Mapping, Optional

import torch
import torch.nn as nn
import torch.nn.functional as F

from mmvireid.registry import MODELS
from mmvireid.structures import PAIR_SEP
from ..memories.instance_memory import InstanceMemory
from ..task_modules.neighbours.neighbour_sets import (NeighbourSets,
                                                      merge_regions)


@MODELS.register_module()
class NeighbourLearningLoss(nn.Module):
    """MCF's varied regional neighbour learning loss (VRNL, Sec. 3.4).

    For a direction ``s->t`` (v→v, v→r, r→r, r→v), a batch sample ``i`` of
    modality ``s`` and region ``r`` with neighbour set ``N_r(i)`` among
    ``t``'s images (:class:`~mmvireid.models.task_modules.
    RegionalNeighbours`):

    ``ℓ_r(i) = -1/|N_r(i)| Σ_{j∈N_r(i)} log softmax_j(⟨f_i^r, M_t^r⟩ / τ)``,

    the softmax running over every entry of ``t``'s instance memory
    ``M_t`` (region entries: its ``part_features``, one per region). A
    direction's loss is the mean of ``ℓ_r(i)`` over the (region, sample)
    pairs with a non-empty set (pairs without neighbours contribute
    nothing); the loss is the sum over the directions present. The paper's
    formulas were lost in the text; this is the SDCL-style neighbour loss
    it describes ("the similarity contribution of the positive samples"
    over "the cumulative similarity contributions between the query and
    all visible-light samples"), per region space [our reading].

    With 2-D ``(B, D)`` features the concatenated feature is scored
    against the memory's global entries on the union of the region sets
    (:meth:`NeighbourSets.merged`).

    Args:
        temperature (float): τ. Defaults to 0.05.
        loss_weight (float): Multiplier of the loss. Defaults to 1.
    """

    def __init__(self,
                 temperature: float = 0.05,
                 loss_weight: float = 1.0) -> None:
        super().__init__()
        if temperature <= 0:
            raise ValueError('NeighbourLearningLoss: temperature must be > '
                             f'0, got {temperature!r}')
        self.temperature = temperature
        self.loss_weight = loss_weight

    def direction_loss(self, features: torch.Tensor, neighbours: torch.Tensor,
                       memory: InstanceMemory) -> Optional[torch.Tensor]:
        """Unweighted loss of one direction, None without any neighbour.

        Args:
            features (Tensor): ``(B, R, d)`` region features (or ``(B, D)``
                concatenated ones) of the source samples.
            neighbours (Tensor): ``(R, B, K)`` (or ``(B, K)``) dataset
                indices of their neighbours, ``-1`` padded.
            memory (InstanceMemory): The destination's images.

        Returns:
            Tensor | None: Scalar.
        """
        rows = memory.rows(neighbours)  # images not stored: -1
        if features.dim() == 3:
            if not memory.has_parts or memory.part_features.shape[1:] != \
                    features.shape[1:]:
                raise ValueError(
                    f'NeighbourLearningLoss: region features of shape '
                    f'{tuple(features.shape)} need an InstanceMemory with '
                    f'(N, {features.size(1)}, {features.size(2)}) '
                    'part_features, got '
                    f'{tuple(memory.part_features.shape)}')
            entries = memory.part_features.to(features.dtype)
            logits = torch.einsum('brd,nrd->rbn',
                                  F.normalize(features, dim=-1), entries)
        else:
            logits = memory.logits(features)
        rows = rows.to(logits.device)
        valid = rows >= 0
        count = valid.sum(-1)
        used = count > 0
        if not used.any():
            return None
        log_prob = F.log_softmax(logits / self.temperature, dim=-1)
        picked = log_prob.gather(-1, rows.clamp(min=0)) * valid
        per_row = -picked.sum(-1) / count.clamp(min=1)
        return per_row[used].mean()

    def direction_losses(
            self, features: Mapping[str, torch.Tensor],
            indices: Mapping[str, torch.Tensor], sets: NeighbourSets,
            memories: Mapping[str, InstanceMemory]) -> Dict[str, torch.Tensor]:
        """Unweighted loss of every direction of ``sets`` whose source has
        rows in the batch and whose destination has a memory (directions
        without any neighbour are left out).

        Args:
            features (Mapping[str, Tensor]): modality → the batch's
                ``(B_m, R, d)`` (or ``(B_m, D)``) features of that modality.
            indices (Mapping[str, Tensor]): modality → ``(B_m,)`` their
                dataset indices (select their neighbour rows).
            sets (NeighbourSets): The epoch's neighbour tables.
            memories (Mapping[str, InstanceMemory]): modality → its
                instance memory.

        Returns:
            dict[str, Tensor]: ``'src->dst'`` → scalar loss.
        """
        out = {}
        for key in sets.neighbours:
            source, target = key.split(PAIR_SEP)
            if source not in features or target not in memories:
                continue
            if len(features[source]) != len(indices[source]):
                raise ValueError(
                    f'NeighbourLearningLoss: {len(features[source])} '
                    f'features of {source!r} for {len(indices[source])} '
                    'dataset indices')
            neighbours = sets.lookup(key, indices[source])
            if features[source].dim() == 2:
                neighbours = merge_regions(neighbours)
            loss = self.direction_loss(features[source], neighbours,
                                       memories[target])
            if loss is not None:
                out[key] = loss
        return out

    def forward(self, features: Mapping[str, torch.Tensor],
                indices: Mapping[str, torch.Tensor], sets: NeighbourSets,
                memories: Mapping[str, InstanceMemory]) -> torch.Tensor:
        """``loss_weight`` x the sum of :meth:`direction_losses`; a zero
        that keeps the graph when no batch row has a neighbour."""
        losses = self.direction_losses(features, indices, sets, memories)
        if not losses:
            return sum(f.sum() * 0 for f in features.values())
        return self.loss_weight * sum(losses.values())
