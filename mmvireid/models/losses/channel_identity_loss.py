"""Identity consistency of channel-attention weights (MCF's PI-CA)."""
import math
from typing import Optional

import torch
import torch.nn as nn
import torch.nn.functional as F

from mmvireid.registry import MODELS


@MODELS.register_module()
class ChannelIdentityLoss(nn.Module):
    """Pull same-identity channel weights together, push others apart.

    MCF's identity-guided regulariser on the channel weights of its PI-CA
    gate (:class:`~mmvireid.models.PACBAMNeck`, Sec. 3.2 of
    ``shared/seeds/mcf_paper.txt``): the paper states that it uses the
    identity pseudo-labels to keep the channel weights of samples of one
    identity consistent and to increase the differences between identities,
    weighted by λ (0.1, chosen by grid search); its formula was lost in the
    text. Ours is the contrastive loss of Hadsell et al. ("Dimensionality
    Reduction by Learning an Invariant Mapping", CVPR 2006) over the pairs
    ``i ≠ j`` of the batch, with ``d_ij = ||w_i − w_j||₂ / √C`` the RMS
    difference of the two ``C`` weights (in ``[0, 1]`` for weights in
    ``(0, 1)``, whatever ``C``)::

        loss = loss_weight · ( mean_{y_i = y_j} d_ij²
                               + mean_{y_i ≠ y_j} max(0, margin − d_ij)² )

    Rows labelled ``-1`` (outliers) are left out. Labels of different
    label spaces (e.g. each modality's own clusters) name different sets:
    with ``label_spaces`` only pairs of one space count (neither positive
    nor negative across spaces). A term without a pair (a batch of one
    identity has no negative) is zero, as is the loss without a valid
    pair; the zero keeps the graph. Masks and means stay on the device (no
    host synchronisation).

    Args:
        margin (float): Smallest RMS difference asked between the weights
            of two identities. Defaults to 0.1 [ours].
        loss_weight (float): Multiplier λ. Defaults to 0.1 (the paper's).

    Raises:
        ValueError: ``margin`` is negative.
    """

    def __init__(self, margin: float = 0.1, loss_weight: float = 0.1) -> None:
        super().__init__()
        if margin < 0:
            raise ValueError(
                f'ChannelIdentityLoss: margin must be >= 0, got {margin}')
        self.margin = margin
        self.loss_weight = loss_weight

    def forward(self,
                channel_weights: torch.Tensor,
                labels: torch.Tensor,
                label_spaces: Optional[torch.Tensor] = None) -> torch.Tensor:
        """The weighted loss of a batch.

        Args:
            channel_weights (Tensor): ``(B, C)`` channel weights.
            labels (Tensor): ``(B,)`` pseudo-identities, ``-1`` for
                outliers (on any device: moved to the weights').
            label_spaces (Tensor, optional): ``(B,)`` label space of each
                row (e.g. its modality position); None: one space.

        Returns:
            Tensor: Scalar loss.

        Raises:
            ValueError: ``channel_weights`` is not 2-D, or ``labels`` /
                ``label_spaces`` do not have one entry per row.
        """
        if channel_weights.dim() != 2:
            raise ValueError('ChannelIdentityLoss: channel_weights must be '
                             f'(B, C), got {tuple(channel_weights.shape)}')
        weights = channel_weights.float()
        device, rows = weights.device, weights.size(0)
        labels = self._rows('labels', labels, rows, device)
        valid = labels >= 0
        pairs = valid[:, None] & valid[None] & ~torch.eye(
            rows, dtype=torch.bool, device=device)
        if label_spaces is not None:
            spaces = self._rows('label_spaces', label_spaces, rows, device)
            pairs &= spaces[:, None] == spaces[None]
        same = labels[:, None] == labels[None]
        positive, negative = pairs & same, pairs & ~same
        # the direct kernel: exact zeros for equal rows, finite gradients
        dist = torch.cdist(
            weights, weights, compute_mode='donot_use_mm_for_euclid_dist')
        dist = dist / math.sqrt(weights.size(1))
        pull = self._pair_mean(dist.pow(2), positive)
        push = self._pair_mean(F.relu(self.margin - dist).pow(2), negative)
        return self.loss_weight * (pull + push)

    @staticmethod
    def _pair_mean(values: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Mean of ``values`` over ``mask`` (0, in the graph, if empty)."""
        return values.masked_fill(~mask, 0).sum() / mask.sum().clamp(min=1)

    @staticmethod
    def _rows(key: str, value: torch.Tensor, rows: int,
              device: torch.device) -> torch.Tensor:
        """``value`` as a ``(rows,)`` tensor on ``device``."""
        value = torch.as_tensor(value, device=device)
        if value.shape != (rows, ):
            raise ValueError(f'ChannelIdentityLoss: {key} must have shape '
                             f'({rows},), one per row of channel_weights, '
                             f'got {tuple(value.shape)}')
        return value
