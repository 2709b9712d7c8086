"""BASELINE: the SYSU-MM01 metric with a Python loop over queries.

A re-implementation, for checking and timing only, of how the community
``eval_sysu`` (AGW / CAJ, https://github.com/mangye16/ReID-Survey
``eval_metrics.py``; copied by the USL-VI-ReID repositories) works: one
full argsort of the distance matrix, then for every query a Python
iteration that drops the cam-2 gallery items of a cam-3 query, builds the
identity-deduplicated list with ``np.unique`` and a sorted Python list, and
computes the CMC curve, AP (with a list comprehension over the ranked list)
and INP. Invalid queries (no true match left) are skipped.

One deliberate difference: the argsort is stable (``kind='stable'``), as in
:func:`mmvireid.evaluation.functional.eval_sysu`, so that both rank exact
distance ties the same way; the reference's quicksort order on ties is
unspecified.
"""
from typing import Tuple

import numpy as np


def looped_eval_sysu(distmat: np.ndarray,
                     q_pids: np.ndarray,
                     g_pids: np.ndarray,
                     q_camids: np.ndarray,
                     g_camids: np.ndarray,
                     max_rank: int = 20) -> Tuple[np.ndarray, float, float]:
    """CMC (identity-deduplicated), mAP and mINP, one query at a time.

    Args:
        distmat (np.ndarray): (Nq, Ng) distances, smaller is closer.
        q_pids, g_pids (np.ndarray): Query / gallery identities.
        q_camids, g_camids (np.ndarray): Query / gallery cameras.
        max_rank (int): Length of the CMC curve.

    Returns:
        tuple: ``(cmc, mAP, mINP)`` as fractions; ``cmc`` float32.
    """
    num_q, num_g = distmat.shape
    max_rank = min(max_rank, num_g)
    ranking = np.argsort(distmat, axis=1, kind='stable')
    ranked_pids = g_pids[ranking]
    is_match = (ranked_pids == q_pids[:, None]).astype(np.int32)
    dedup_curves, ap_list, inp_list = [], [], []
    valid = 0.
    for i in range(num_q):
        dropped = (q_camids[i] == 3) & (g_camids[ranking[i]] == 2)
        kept = np.logical_not(dropped)
        # identities in ranked order, each kept at its first occurrence
        kept_pids = ranked_pids[i][kept]
        first_seen = np.unique(kept_pids, return_index=True)[1]
        distinct = [kept_pids[pos] for pos in sorted(first_seen)]
        dedup_hit = (np.asarray(distinct) == q_pids[i]).astype(np.int32)
        dedup_curves.append(dedup_hit.cumsum()[:max_rank])
        hits = is_match[i][kept]
        if not hits.any():
            continue
        valid += 1.
        found = hits.cumsum()
        last = np.max(np.where(hits == 1))
        inp_list.append(found[last] / (last + 1.0))
        precision = [n / (pos + 1.) for pos, n in enumerate(found)]
        ap_list.append((np.asarray(precision) * hits).sum() / hits.sum())
    if valid == 0:
        raise ValueError('no query has a true match in the gallery')
    cmc = np.asarray(dedup_curves).astype(np.float32).sum(0) / valid
    return cmc, float(np.mean(ap_list)), float(np.mean(inp_list))
