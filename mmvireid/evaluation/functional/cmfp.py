"""Cross-Modality Feature Propagation (CMFP).

SALCR, Eq. 28-29 (https://arxiv.org/abs/2504.19244). Features of two sets
``a`` and ``b`` (query / gallery at test time, visible / infrared train
features at train time) are smoothed once over a sparse k-NN affinity::

    A = [[A_aa, A_ab],       f' = normalise(A @ [F_a; F_b])
         [A_ba, A_bb]]

Each block ``A_xy`` keeps, for every row, the ``k`` largest cosine
similarities of that row to set ``y`` (self included in the intra blocks),
sets kept entries ``<= 0`` to 0 (the paper keeps ``S_ij`` only if ``j`` is a
k-nearest neighbour AND ``S_ij > 0``) and is row-normalised on its own, so a
row of ``A`` sums to 2. A block row whose kept entries are all 0 contributes
nothing (it stays an all-zero row instead of producing NaN).

Only top-k lists are ever built (chunked :func:`topk_similarity`); the
propagation is a sparse-dense product, so memory is ``O((Na + Nb) * k)``
besides the features.

:class:`CMFPTrials` evaluates many galleries (SYSU-MM01's 10 trials) against
one query set without a per-trial ``Nq x Ng x D`` product: everything a trial
needs is read from similarity (Gram) matrices computed once.
"""
from typing import Optional, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor

from mmvireid.utils.knn import topk_similarity

TopK = Tuple[Tensor, Tensor]


def _block_weights(values: Tensor) -> Tensor:
    """Clamp top-k similarities at 0 and row-normalise (0-sum rows stay 0)."""
    values = values.clamp(min=0)
    row_sum = values.sum(dim=1, keepdim=True)
    return torch.where(row_sum > 0, values / row_sum.clamp(min=1e-12),
                       torch.zeros_like(values))


def _sparse_rows(weights: Tensor, indices: Tensor, num_cols: int) -> Tensor:
    """Sparse (N, num_cols) matrix with ``weights[i]`` at ``indices[i]``."""
    num_rows, k = indices.shape
    rows = torch.arange(num_rows, device=indices.device).repeat_interleave(k)
    return torch.sparse_coo_tensor(
        torch.stack([rows, indices.reshape(-1)]),
        weights.reshape(-1),
        size=(num_rows, num_cols),
        check_invariants=False)  # indices come from topk: in range


def _propagate_block(topk: TopK, source: Tensor) -> Tensor:
    """``W @ source`` for the sparse row-normalised top-k block ``W``."""
    values, indices = topk
    block = _sparse_rows(_block_weights(values), indices, source.size(0))
    return torch.sparse.mm(block, source)


def cross_modality_propagation(
        feats_a: Tensor,
        feats_b: Tensor,
        k: int,
        chunk_size: int = 4096,
        topk_aa: Optional[TopK] = None) -> Tuple[Tensor, Tensor]:
    """Propagate features once over the cross-modality k-NN graph.

    Inputs are L2-normalised here (a no-op for normalised features), so the
    similarities are cosines whatever the caller passes.

    Args:
        feats_a (Tensor): Features of the first set, shape (Na, D)
            (queries at test time, visible features at train time).
        feats_b (Tensor): Features of the second set, shape (Nb, D).
        k (int): Neighbours kept per row in each block (``k_te`` / ``k_tr``),
            clamped to the size of the block's column set.
        chunk_size (int): Query rows per similarity chunk in
            :func:`topk_similarity`. Defaults to 4096.
        topk_aa (tuple[Tensor, Tensor], optional): Precomputed
            ``topk_similarity(a, a, k)`` of the *normalised* ``feats_a`` (see
            :func:`intra_topk`), e.g. reused over the 10 SYSU-MM01 trials where
            the query set is fixed. Defaults to None (computed here).

    Returns:
        Tuple[Tensor, Tensor]: Propagated, L2-normalised float32 features of
        shapes (Na, D) and (Nb, D).
    """
    if feats_a.dim() != 2 or feats_b.dim() != 2 or \
            feats_a.size(1) != feats_b.size(1):
        raise ValueError('feats_a and feats_b must be (N, D) with the same D, '
                         f'got {tuple(feats_a.shape)} and '
                         f'{tuple(feats_b.shape)}')
    feats_a = F.normalize(feats_a.float(), dim=1)
    feats_b = F.normalize(feats_b.float().to(feats_a.device), dim=1)
    if topk_aa is None:
        topk_aa = intra_topk(feats_a, k, chunk_size)
    elif topk_aa[1].shape != (feats_a.size(0), min(k, feats_a.size(0))):
        raise ValueError(
            f'topk_aa indices have shape {tuple(topk_aa[1].shape)}, expected '
            f'({feats_a.size(0)}, {min(k, feats_a.size(0))})')
    if feats_a.size(0) <= chunk_size:
        # the whole a-b block is one chunk anyway: rank it both ways
        sim_ab = feats_a @ feats_b.t()
        topk_ab = sim_ab.topk(min(k, sim_ab.size(1)), dim=1)
        topk_ba = sim_ab.t().topk(min(k, sim_ab.size(0)), dim=1)
        del sim_ab
    else:
        topk_ab = topk_similarity(feats_a, feats_b, k, chunk_size)
        topk_ba = topk_similarity(feats_b, feats_a, k, chunk_size)
    topk_bb = topk_similarity(feats_b, feats_b, k, chunk_size)
    new_a = _propagate_block(topk_aa, feats_a) + \
        _propagate_block(topk_ab, feats_b)
    new_b = _propagate_block(topk_ba, feats_a) + \
        _propagate_block(topk_bb, feats_b)
    return F.normalize(new_a, dim=1), F.normalize(new_b, dim=1)


def intra_topk(feats: Tensor, k: int, chunk_size: int = 4096) -> TopK:
    """Self-inclusive top-k block of one set, reusable as ``topk_aa``.

    Args:
        feats (Tensor): Features of shape (N, D); L2-normalised here.
        k (int): Neighbours per row (self included).
        chunk_size (int): Rows per similarity chunk. Defaults to 4096.

    Returns:
        Tuple[Tensor, Tensor]: ``(values, indices)`` of shape (N, min(k, N)).
    """
    feats = F.normalize(feats.float(), dim=1)
    return topk_similarity(feats, feats, k, chunk_size)
