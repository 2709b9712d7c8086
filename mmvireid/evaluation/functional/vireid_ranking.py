"""Ranking metrics (CMC, mAP, mINP) of the SYSU-MM01 and RegDB protocols.

Vectorised re-implementation of ``eval_sysu`` / ``eval_regdb`` from the
community evaluation script (AGW, https://arxiv.org/abs/2001.04193 ; code
https://github.com/mangye16/ReID-Survey ``eval_metrics.py``) that every
USL-VI-ReID repository copies. Where the reference runs, the results are
identical, with two documented differences:

* Gallery ranking uses a *stable* argsort, so equal distances are ranked by
  gallery index (the reference's quicksort order is unspecified on ties).
* The reference crashes when per-query CMC curves have different lengths
  (short galleries). Here the curve length is
  ``min(max_rank, num_g, longest per-query list)`` and a shorter per-query
  curve is padded with its last value (once matched it stays matched).
"""
from typing import Dict, Optional, Tuple, Union

import numpy as np
import torch

ArrayLike = Union[np.ndarray, torch.Tensor]

# Number of distance-matrix entries ranked at once (bounds peak memory).
_MAX_CHUNK_ELEMENTS = 1 << 21


def _to_numpy(array: ArrayLike) -> np.ndarray:
    if isinstance(array, torch.Tensor):
        return array.detach().cpu().numpy()
    return np.asarray(array)


def _stable_argsort(dist: np.ndarray) -> np.ndarray:
    """Row-wise argsort, equal values in index order (stable).

    float32 rows without NaN (the usual case) are sorted as int64 keys
    ``(order-preserving bits of the value, index)``: all keys are distinct,
    so a plain (fast, SIMD) sort gives the stable order. Other inputs use
    numpy's stable argsort.
    """
    if dist.dtype != np.float32 or dist.shape[1] >= 2**31 or np.isnan(
            dist).any():
        return np.argsort(dist, axis=1, kind='stable')
    # + 0 maps -0.0 to +0.0 (they tie); flipping the 31 low bits of
    # negative values makes the signed integers ordered like the floats
    bits = (dist + np.float32(0)).view(np.int32).astype(np.int64)
    bits = np.where(bits < 0, bits ^ 0x7FFFFFFF, bits)
    keys = (bits << 32) | np.arange(dist.shape[1], dtype=np.int64)
    keys.sort(axis=1)
    return keys & 0xFFFFFFFF


def sysu_keep_mask(q_camids: np.ndarray, g_camids: np.ndarray) -> np.ndarray:
    """Gallery items each query keeps under the SYSU-MM01 camera rule.

    A camera-3 query drops every camera-2 gallery item, whatever its
    identity; other queries keep everything.

    Args:
        q_camids (np.ndarray): Query cameras, shape (Nq,).
        g_camids (np.ndarray): Gallery cameras, shape (Ng,), or (Nq, Ng)
            with each query's gallery in its own (e.g. ranked) order.

    Returns:
        np.ndarray: Boolean mask of shape (Nq, Ng), True where kept.
    """
    return ~((q_camids[:, None] == 3) & (g_camids == 2))


def _rank_queries(distmat: np.ndarray,
                  q_pids: np.ndarray,
                  g_pids: np.ndarray,
                  q_camids: Optional[np.ndarray] = None,
                  g_camids: Optional[np.ndarray] = None,
                  dedup: bool = False) -> Dict[str, np.ndarray]:
    """Per-query ranking statistics, ``chunk`` queries at a time.

    With cameras given, the SYSU rule drops cam-2 gallery items for cam-3
    queries. Returned ranks are 1-based positions in the kept list
    (``first_hit``) or in its identity-deduplicated version (``dedup_hit``).
    """
    num_q, num_g = distmat.shape
    _, g_codes = np.unique(g_pids, return_inverse=True)
    g_codes = g_codes.reshape(-1).astype(np.int64)
    num_codes = int(g_codes.max()) + 1 if num_g else 0
    stats = {
        name: np.zeros(num_q, dtype=dtype)
        for name, dtype in (('valid', bool), ('first_hit', np.int64),
                            ('dedup_hit', np.int64), ('list_len', np.int64),
                            ('ap', np.float64), ('inp', np.float64))
    }
    if num_g == 0:
        return stats
    chunk = max(1, _MAX_CHUNK_ELEMENTS // max(num_g, 1))
    for start in range(0, num_q, chunk):
        rows = np.arange(start, min(start + chunk, num_q))
        # stable sort: equal distances keep gallery-index order
        order = _stable_argsort(distmat[rows])
        if q_camids is None:
            keep = np.ones(order.shape, dtype=bool)
        else:
            keep = sysu_keep_mask(q_camids[rows], g_camids[order])
        hits = (g_pids[order] == q_pids[rows, None]) & keep
        kept_rank = np.cumsum(keep, axis=1)  # 1-based rank among kept items
        num_rel = hits.sum(axis=1)
        valid = num_rel > 0
        hit_count = np.cumsum(hits, axis=1)
        precision = np.divide(
            hit_count, kept_rank, out=np.zeros(hits.shape), where=hits)
        ap = precision.sum(axis=1) / np.maximum(num_rel, 1)
        first_pos = np.argmax(hits, axis=1)  # 0-based column of 1st hit
        last_rank = np.where(hits, kept_rank, 0).max(axis=1)
        stats['valid'][rows] = valid
        stats['ap'][rows] = ap
        stats['inp'][rows] = num_rel / np.maximum(last_rank, 1)
        stats['first_hit'][rows] = kept_rank[np.arange(len(rows)), first_pos]
        stats['list_len'][rows] = kept_rank[:, -1]
        if dedup:
            # first kept occurrence of each identity in each ranked row:
            # scatter-min of rank positions per (row, identity code)
            codes = torch.from_numpy(g_codes[order])
            positions = torch.from_numpy(
                np.where(keep, np.arange(num_g), num_g)).long()
            first = torch.full(
                (len(rows), num_codes), num_g,
                dtype=torch.long).scatter_reduce_(1, codes, positions, 'amin')
            # identities first seen at or before the first hit / at all
            first = first.numpy()
            stats['dedup_hit'][rows] = (first <= first_pos[:, None]).sum(1)
            stats['list_len'][rows] = (first < num_g).sum(1)
    return stats


def _summarise(stats: dict, hit_key: str, max_rank: int,
               num_g: int) -> Tuple[np.ndarray, float, float]:
    valid = stats['valid']
    num_valid = int(valid.sum())
    if num_valid == 0:
        raise ValueError('no query has a true match in the gallery')
    curve_len = int(min(max_rank, num_g, stats['list_len'].max()))
    ranks = np.arange(1, curve_len + 1)
    matched = ranks[None, :] >= stats[hit_key][valid, None]
    cmc = matched.astype(np.float32).sum(axis=0) / num_valid
    return (cmc, float(np.mean(stats['ap'][valid])),
            float(np.mean(stats['inp'][valid])))


def _check_inputs(distmat: np.ndarray, max_rank: int, **labels) -> None:
    if distmat.ndim != 2:
        raise ValueError(f'distmat must be 2-D, got shape {distmat.shape}')
    expected = {'q': distmat.shape[0], 'g': distmat.shape[1]}
    for name, value in labels.items():
        if value.shape != (expected[name[0]], ):
            raise ValueError(
                f'{name} has shape {value.shape} but distmat has shape '
                f'{distmat.shape}; expected ({expected[name[0]]},)')
    if int(max_rank) < 1:
        raise ValueError(f'max_rank must be >= 1, got {max_rank}')


def eval_sysu(distmat: ArrayLike,
              q_pids: ArrayLike,
              g_pids: ArrayLike,
              q_camids: ArrayLike,
              g_camids: ArrayLike,
              max_rank: int = 20,
              cmc_mode: str = 'dedup') -> Tuple[np.ndarray, float, float]:
    """Evaluate with the SYSU-MM01 protocol.

    A query of camera 3 ignores every gallery image of camera 2 (whatever
    its identity); other queries ignore nothing. Queries without a true match
    among the kept gallery images are skipped in every average. AP and INP
    are computed on the kept ranked list; INP is the number of true matches
    divided by the (1-based) rank of the last one.

    Args:
        distmat (np.ndarray | Tensor): Distances of shape (Nq, Ng).
        q_pids (np.ndarray | Tensor): Query identities, shape (Nq,).
        g_pids (np.ndarray | Tensor): Gallery identities, shape (Ng,).
        q_camids (np.ndarray | Tensor): Query cameras, shape (Nq,).
        g_camids (np.ndarray | Tensor): Gallery cameras, shape (Ng,).
        max_rank (int): Length of the CMC curve. Defaults to 20.
        cmc_mode (str): ``'dedup'`` (reference behaviour): CMC over the
            identity-deduplicated ranked list (first occurrence of each
            identity kept). ``'ordinary'``: per-image CMC. Defaults to
            ``'dedup'``.

    Returns:
        Tuple[np.ndarray, float, float]: ``(cmc, mAP, mINP)`` as fractions;
        ``cmc`` is float32 of length ``min(max_rank, Ng, L)`` with ``L`` the
        longest per-query (deduplicated) list; shorter per-query curves are
        padded with their last value.
    """
    if cmc_mode not in ('dedup', 'ordinary'):
        raise ValueError("cmc_mode must be 'dedup' or 'ordinary', got "
                         f'{cmc_mode!r}')
    distmat, q_pids, g_pids, q_camids, g_camids = map(
        _to_numpy, (distmat, q_pids, g_pids, q_camids, g_camids))
    _check_inputs(
        distmat,
        max_rank,
        q_pids=q_pids,
        g_pids=g_pids,
        q_camids=q_camids,
        g_camids=g_camids)
    dedup = cmc_mode == 'dedup'
    stats = _rank_queries(distmat, q_pids, g_pids, q_camids, g_camids, dedup)
    hit_key = 'dedup_hit' if dedup else 'first_hit'
    return _summarise(stats, hit_key, int(max_rank), distmat.shape[1])


def eval_regdb(distmat: ArrayLike,
               q_pids: ArrayLike,
               g_pids: ArrayLike,
               max_rank: int = 20) -> Tuple[np.ndarray, float, float]:
    """Evaluate with the RegDB protocol (no camera rule, per-image CMC).

    Args:
        distmat (np.ndarray | Tensor): Distances of shape (Nq, Ng).
        q_pids (np.ndarray | Tensor): Query identities, shape (Nq,).
        g_pids (np.ndarray | Tensor): Gallery identities, shape (Ng,).
        max_rank (int): Length of the CMC curve. Defaults to 20.

    Returns:
        Tuple[np.ndarray, float, float]: ``(cmc, mAP, mINP)`` as fractions;
        ``cmc`` is float32 of length ``min(max_rank, Ng)``. Queries without a
        true match are skipped.
    """
    distmat, q_pids, g_pids = map(_to_numpy, (distmat, q_pids, g_pids))
    _check_inputs(distmat, max_rank, q_pids=q_pids, g_pids=g_pids)
    stats = _rank_queries(distmat, q_pids, g_pids)
    return _summarise(stats, 'first_hit', int(max_rank), distmat.shape[1])
