"""k-reciprocal re-ranking (Zhong et al., CVPR 2017).

Paper: https://arxiv.org/abs/1701.08398 ; reference code by the authors:
https://github.com/zhunzhong07/person-re-ranking (``re_ranking_ranklist.py``).
This is a vectorised implementation of that routine: the per-sample loops of
the reference (k-reciprocal sets, expansion, query expansion, Jaccard
distance) are replaced by array operations; results are equal up to float32
rounding (and the order of exactly tied distances).
"""
from typing import Union

import numpy as np
import torch
import torch.nn.functional as F

ArrayLike = Union[np.ndarray, torch.Tensor]

# Number of (query entry, column entry) pairs processed at once in Jaccard.
_MAX_PAIRS = 1 << 23


def _membership(ranks: np.ndarray, num: int) -> np.ndarray:
    """Dense boolean ``M[i, j] = j in ranks[i]``."""
    member = np.zeros((ranks.shape[0], num), dtype=bool)
    np.put_along_axis(member, ranks, True, axis=1)
    return member


def _reciprocal_lists(ranks: np.ndarray, num: int) -> tuple:
    """k-reciprocal sets as a dense mask and a padded index list (-1 pad)."""
    member = _membership(ranks, num)
    reciprocal = member & member.T
    is_kept = np.take_along_axis(reciprocal, ranks, axis=1)
    padded = np.where(is_kept, ranks, -1)
    return reciprocal, padded


def _jaccard_overlap(weights: np.ndarray, num_query: int) -> np.ndarray:
    """``sum_k min(V[i, k], V[j, k])`` for query rows ``i`` and all ``j``.

    Only pairs sharing a non-zero column ``k`` contribute (the reference's
    inverted index); pairs are enumerated column-wise with ``np.repeat`` and
    summed with ``np.bincount``, a block of query rows at a time.
    """
    num = weights.shape[0]
    col_k, col_rows = np.nonzero(weights.T)  # entries grouped by column
    col_vals = weights[col_rows, col_k]
    col_count = np.bincount(col_k, minlength=num)
    col_start = np.cumsum(col_count) - col_count
    q_rows, q_k = np.nonzero(weights[:num_query])  # grouped by query row
    q_vals = weights[q_rows, q_k]
    entry_pairs = col_count[q_k]
    row_pairs = np.bincount(q_rows, weights=entry_pairs, minlength=num_query)
    row_entry_start = np.searchsorted(q_rows, np.arange(num_query + 1))
    # split the query rows into blocks of about _MAX_PAIRS pairs each
    block_ends = _MAX_PAIRS * np.arange(1, row_pairs.sum() // _MAX_PAIRS + 1)
    cuts = np.searchsorted(np.cumsum(row_pairs), block_ends)
    row_bounds = np.unique(np.concatenate([[0], cuts, [num_query]]))
    overlap = np.zeros((num_query, num), dtype=np.float32)
    for row_lo, row_hi in zip(row_bounds[:-1], row_bounds[1:]):
        entries = np.arange(row_entry_start[row_lo], row_entry_start[row_hi])
        counts = entry_pairs[entries]
        entry = np.repeat(entries, counts)
        offset = np.arange(entry.size) - np.repeat(
            np.cumsum(counts) - counts, counts)
        partner = col_start[q_k[entry]] + offset
        overlap[row_lo:row_hi] = np.bincount(
            (q_rows[entry] - row_lo) * num + col_rows[partner],
            weights=np.minimum(q_vals[entry], col_vals[partner]),
            minlength=(row_hi - row_lo) * num).reshape(-1, num)
    return overlap


def _rerank_original_dist(original_dist: np.ndarray, num_query: int, k1: int,
                          k2: int, lambda_value: float) -> np.ndarray:
    """Core algorithm on the (N, N) squared distance of [query; gallery]."""
    num = original_dist.shape[0]
    original_dist = np.ascontiguousarray(
        (original_dist / np.max(original_dist, axis=0)).T, dtype=np.float32)
    num_ranked = min(max(k1 + 1, k2), num)
    part = np.argpartition(
        original_dist, num_ranked - 1, axis=1)[:, :num_ranked]
    part.sort(axis=1)  # ties inside the partition resolved by index
    order = np.argsort(
        np.take_along_axis(original_dist, part, axis=1), axis=1, kind='stable')
    initial_rank = np.take_along_axis(part, order, axis=1)

    reciprocal, candidates = _reciprocal_lists(initial_rank[:, :k1 + 1], num)
    half = int(np.around(k1 / 2.)) + 1
    half_reciprocal, half_padded = _reciprocal_lists(initial_rank[:, :half],
                                                     num)
    # candidate j of R(i, k1) adds R(j, round(k1/2)) to the expansion set
    # if more than 2/3 of it lies in R(i, k1) (authors' code; paper Eq. 8)
    members = half_padded[candidates]  # (N, k1 + 1, half), -1 = none
    valid = (candidates[:, :, None] >= 0) & (members >= 0)
    rows = np.arange(num)[:, None, None]
    inside = valid & reciprocal[rows, np.maximum(members, 0)]
    size = half_reciprocal.sum(axis=1)[np.maximum(candidates, 0)]
    accepted = (candidates >= 0) & (inside.sum(axis=2) > 2. / 3 * size)
    expansion = reciprocal.copy()
    add = valid & accepted[:, :, None]
    expansion[np.broadcast_to(rows, add.shape)[add], members[add]] = True

    gauss = np.where(expansion, np.exp(-original_dist), np.float32(0))
    weights = gauss / gauss.sum(axis=1, keepdims=True)
    if k2 != 1:  # local query expansion: mean over the k2 nearest rows
        num_expand = min(k2, num)
        expanded = np.zeros_like(weights)
        for slot in range(num_expand):  # k2 slots, not samples
            expanded += weights[initial_rank[:, slot]]
        weights = expanded / np.float32(num_expand)

    overlap = _jaccard_overlap(weights, num_query)
    jaccard_dist = 1 - overlap / (2. - overlap)
    final_dist = jaccard_dist * (1 - lambda_value) + \
        original_dist[:num_query] * lambda_value
    return final_dist[:, num_query:].astype(np.float32)


def re_ranking(q_g_dist: np.ndarray,
               q_q_dist: np.ndarray,
               g_g_dist: np.ndarray,
               k1: int = 20,
               k2: int = 6,
               lambda_value: float = 0.3) -> np.ndarray:
    """k-reciprocal re-ranking with the authors' ``re_ranking`` semantics.

    As in the reference, the input distances are squared before use.

    Args:
        q_g_dist (np.ndarray): Query-gallery distances, shape (Nq, Ng).
        q_q_dist (np.ndarray): Query-query distances, shape (Nq, Nq).
        g_g_dist (np.ndarray): Gallery-gallery distances, shape (Ng, Ng).
        k1 (int): Size of the k-reciprocal neighbourhood. Defaults to 20.
        k2 (int): Size of the local query expansion. Defaults to 6.
        lambda_value (float): Weight of the original distance.
            Defaults to 0.3.

    Returns:
        np.ndarray: Re-ranked float32 distances of shape (Nq, Ng).
    """
    original_dist = np.concatenate([
        np.concatenate([q_q_dist, q_g_dist], axis=1),
        np.concatenate([q_g_dist.T, g_g_dist], axis=1)
    ])
    original_dist = np.power(original_dist, 2).astype(np.float32)
    return _rerank_original_dist(original_dist, q_g_dist.shape[0], k1, k2,
                                 lambda_value)


def k_reciprocal_rerank(query_feats: ArrayLike,
                        gallery_feats: ArrayLike,
                        k1: int = 20,
                        k2: int = 6,
                        lambda_value: float = 0.3) -> np.ndarray:
    """Re-rank query-gallery distances of L2-normalised features.

    The base distance is the squared Euclidean distance ``2 - 2 cos`` of the
    (here L2-normalised) features, as in common VI-ReID usage, i.e. the
    result of :func:`re_ranking` fed with Euclidean distances.

    Args:
        query_feats (np.ndarray | Tensor): Query features, shape (Nq, D).
        gallery_feats (np.ndarray | Tensor): Gallery features, shape (Ng, D).
        k1 (int): Size of the k-reciprocal neighbourhood. Defaults to 20.
        k2 (int): Size of the local query expansion. Defaults to 6.
        lambda_value (float): Weight of the original distance.
            Defaults to 0.3.

    Returns:
        np.ndarray: Re-ranked float32 distances of shape (Nq, Ng).
    """
    feats = torch.cat([
        torch.as_tensor(query_feats).detach().float().cpu(),
        torch.as_tensor(gallery_feats).detach().float().cpu()
    ])
    feats = F.normalize(feats, dim=1)
    original_dist = (2 - 2 * feats @ feats.t()).clamp_(min=0).numpy()
    return _rerank_original_dist(original_dist, len(query_feats), k1, k2,
                                 lambda_value)
