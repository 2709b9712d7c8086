"""Momentum updates of L2-normalised memory entries, vectorised."""
import torch
import torch.nn.functional as F


def occurrence_rank(index: torch.Tensor) -> torch.Tensor:
    """How many earlier entries of ``index`` hold the same value.

    ``occurrence_rank([3, 1, 3, 3]) == [0, 0, 1, 2]``.
    """
    if not index.numel():
        return index.clone()
    order = torch.argsort(index, stable=True)
    _, counts = torch.unique_consecutive(index[order], return_counts=True)
    starts = torch.repeat_interleave(counts.cumsum(0) - counts, counts)
    rank = torch.empty_like(index)
    rank[order] = torch.arange(len(index), device=index.device) - starts
    return rank


@torch.no_grad()
def momentum_update_(bank: torch.Tensor,
                     index: torch.Tensor,
                     features: torch.Tensor,
                     momentum: float,
                     dim: int = 0) -> None:
    """In-place momentum update of L2-normalised entries, in batch order.

    For ``i = 0, 1, ...``: ``e <- momentum * e + (1 - momentum) *
    features[i]``, ``e <- e / |e|`` with ``e`` the entry ``index[i]`` of
    ``bank`` along ``dim``. Identical to the one-sample-at-a-time loop of
    Cluster-Contrast (later samples of an entry see the earlier updates),
    but vectorised: round ``r`` updates the ``r``-th occurrence of every
    entry at once, so the loop runs over the largest multiplicity, not
    over the samples.

    Args:
        bank (Tensor): Memory, modified in place.
        index (Tensor): ``(B,)`` entries to update, on any device (the
            host for labels of data samples: no synchronisation then).
        features (Tensor): ``(B, *bank.movedim(dim, 0).shape[1:])``.
        momentum (float): Weight of the OLD entry.
        dim (int): Dimension of ``bank`` indexed by ``index``.
    """
    if not index.numel():
        return
    view = bank.movedim(dim, 0)
    features = F.normalize(features.detach(), dim=-1).to(bank)
    # the rounds are planned on the index's device: a host index (labels of
    # the data samples) needs no device synchronisation
    rank = occurrence_rank(index)
    for r in range(int(rank.max()) + 1):
        rows = torch.nonzero(rank == r).flatten()
        idx = index.index_select(0, rows).to(bank.device)
        view[idx] = F.normalize(
            momentum * view[idx] +
            (1 - momentum) * features.index_select(0, rows.to(bank.device)),
            dim=-1)
