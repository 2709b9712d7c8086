"""Contrast against a memory with several positive entries per row."""
from typing import Optional, Tuple

import torch
import torch.nn as nn

from mmvireid.registry import MODELS


def positive_nll(logits: torch.Tensor, positives: torch.Tensor,
                 rows: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
    """``-log Σ_{i ∈ positives} softmax(logits)_i`` of each row.

    Args:
        logits (Tensor): ``(..., N)``.
        positives (Tensor): ``(..., N)`` bool.
        rows (Tensor): ``(...)`` bool, rows that may contribute.

    Returns:
        tuple[Tensor, Tensor]: the per-row loss (finite everywhere: rows
        without positives are computed against every entry, i.e. 0) and the
        ``(...)`` mask of the rows used (in ``rows`` with ≥1 positive).
    """
    used = rows & positives.any(-1)
    # an all--inf row would give NaN gradients even when masked out later
    safe = positives | ~used[..., None]
    nll = torch.logsumexp(logits, -1) - torch.logsumexp(
        logits.masked_fill(~safe, float('-inf')), -1)
    return nll, used


@MODELS.register_module()
class MultiPositiveContrastLoss(nn.Module):
    """``-log Σ_{i∈P} softmax(f · Mᵀ / τ)_i``: a row with a positive *set*.

    The instance contrast of SALCR's GPCR (Eq. 19-20, 25-26,
    https://arxiv.org/abs/2504.19244): each row's probability mass on its
    set of positive memory entries is maximised. Rows with an empty
    positive set (or outside ``rows``) are skipped.

    Reductions: the mean over the used rows; with ``per_group=True`` the
    last dimension of the rows is a group (e.g. the parts): the mean of
    the per-group means over the groups that have a used row.

    Args:
        loss_weight (float): Multiplier of the loss. Defaults to 1.
    """

    def __init__(self, loss_weight: float = 1.0) -> None:
        super().__init__()
        self.loss_weight = loss_weight

    def forward(self,
                logits: torch.Tensor,
                positives: torch.Tensor,
                rows: torch.Tensor,
                per_group: bool = False) -> Optional[torch.Tensor]:
        """The weighted loss, or None when no row has a positive.

        Args:
            logits (Tensor): ``(..., N)`` similarities (with temperature)
                to the ``N`` memory entries.
            positives (Tensor): ``(..., N)`` bool positive sets.
            rows (Tensor): ``(...)`` bool, rows that may contribute.
            per_group (bool): Average per group (last row dimension)
                first. Defaults to False.

        Returns:
            Tensor | None: Scalar loss; None without a used row (the caller
            decides what an absent term means).
        """
        nll, used = positive_nll(logits, positives, rows)
        if not per_group:
            if not used.any():
                return None
            return self.loss_weight * nll[used].mean()
        dims = tuple(range(used.dim() - 1))
        count = used.sum(dims)
        if not count.any():
            return None
        per_group_mean = (nll * used).sum(dims) / count.clamp(min=1)
        return self.loss_weight * per_group_mean[count > 0].mean()
