"""Verification ROC / AUC over the query-gallery pairs of a ranking protocol.

Every (query, gallery item) pair that the ranking protocol keeps is one
verification trial: positive when both show the same identity, negative
otherwise, scored by the negated distance. The pairs of all queries are
pooled into one ROC curve. The pairs are the ones the ranking scores
(:func:`~mmvireid.evaluation.functional.eval_sysu`): with cameras, the
SYSU-MM01 camera rule (:func:`sysu_keep_mask`) drops the camera-2 gallery
items of camera-3 queries, and a query without a true match among its kept
items is skipped, as in the ranking; without cameras (RegDB) every pair is
kept.

The AUC is exact: equal scores form one threshold, so a tied
positive-negative pair counts one half, as in sklearn's ``roc_auc_score``
(the trapezoid over the distinct thresholds), which equals the
Mann-Whitney U statistic divided by ``P * N``. MCF (the paper this follows)
reports it as a percentage.
"""
from typing import Optional, Tuple

import numpy as np

from .vireid_ranking import (ArrayLike, _check_inputs, _to_numpy,
                             sysu_keep_mask)

# points of the down-sampled ROC: false positive rates 0, 0.001, ..., 1
ROC_POINTS = 1001


def roc_auc(
        scores: ArrayLike,
        labels: ArrayLike,
        num_points: int = ROC_POINTS) -> Tuple[float, np.ndarray, np.ndarray]:
    """Exact AUC and the ROC curve of binary scores (higher means positive).

    The two classes are sorted separately; the AUC is the Mann-Whitney
    count ``#(pos > neg) + #(pos == neg) / 2`` over ``P * N``, in integers.
    The curve is the polyline through the ROC points of the distinct scores
    (the curve whose area is the AUC), read at ``num_points`` evenly spaced
    false positive rates; at a vertical step the upper end is taken. Curves
    of several trials on this grid average point-wise ("vertical
    averaging", Fawcett 2006, https://doi.org/10.1016/j.patrec.2005.10.010).

    Args:
        scores (np.ndarray | Tensor): Scores of shape (M,).
        labels (np.ndarray | Tensor): True for positives, shape (M,).
        num_points (int): Points of the returned curve (>= 2). Defaults to
            :data:`ROC_POINTS`.

    Returns:
        Tuple[float, np.ndarray, np.ndarray]: ``(auc, fpr, tpr)``: the AUC as
        a fraction, ``fpr`` the grid ``linspace(0, 1, num_points)`` and
        ``tpr`` the curve's true positive rates there (float64).
    """
    scores, labels = _to_numpy(scores).ravel(), _to_numpy(labels).ravel()
    if scores.shape != labels.shape:
        raise ValueError(f'scores has shape {scores.shape} but labels has '
                         f'shape {labels.shape}')
    if np.isnan(scores).any():
        raise ValueError(f'scores holds {int(np.isnan(scores).sum())} NaN '
                         'value(s); the ROC is undefined')
    if int(num_points) < 2:
        raise ValueError(f'num_points must be >= 2, got {num_points}')
    labels = labels.astype(bool)
    pos, neg = np.sort(scores[labels]), np.sort(scores[~labels])
    num_pos, num_neg = pos.size, neg.size
    if num_pos == 0 or num_neg == 0:
        raise ValueError('the ROC needs positive and negative pairs, got '
                         f'{num_pos} positive and {num_neg} negative')
    # twice the Mann-Whitney U: #(neg < p) + #(neg <= p) summed over p
    twice_u = int(
        np.searchsorted(neg, pos, 'left').sum() +
        np.searchsorted(neg, pos, 'right').sum())
    auc = twice_u / (2 * num_pos * num_neg)
    # false positive count m = i * N / (n - 1) of grid point i, exactly
    steps = int(num_points) - 1
    index = np.arange(steps + 1, dtype=np.int64) * num_neg
    whole, frac = index // steps, (index % steps) / steps
    inner = whole < num_neg  # m < N; at m = N the curve is at (1, 1)
    # the (floor(m) + 1)-th highest negative is the threshold where the
    # false positives first exceed m; the segment runs from the scores
    # above it (lo) to the scores at or above it (hi)
    value = neg[num_neg - 1 - whole[inner]]
    fp_lo = num_neg - np.searchsorted(neg, value, 'right')
    fp_hi = num_neg - np.searchsorted(neg, value, 'left')
    tp_lo = num_pos - np.searchsorted(pos, value, 'right')
    tp_hi = num_pos - np.searchsorted(pos, value, 'left')
    share = (whole[inner] - fp_lo + frac[inner]) / (fp_hi - fp_lo)
    tpr = np.ones(steps + 1)
    tpr[inner] = (tp_lo + share * (tp_hi - tp_lo)) / num_pos
    return auc, np.linspace(0.0, 1.0, steps + 1), tpr


def verification_pairs(
        distmat: ArrayLike,
        q_pids: ArrayLike,
        g_pids: ArrayLike,
        q_camids: Optional[ArrayLike] = None,
        g_camids: Optional[ArrayLike] = None) -> Tuple[np.ndarray, np.ndarray]:
    """Scores and labels of the query-gallery pairs the protocol keeps.

    Args:
        distmat (np.ndarray | Tensor): Distances of shape (Nq, Ng).
        q_pids (np.ndarray | Tensor): Query identities, shape (Nq,).
        g_pids (np.ndarray | Tensor): Gallery identities, shape (Ng,).
        q_camids (np.ndarray | Tensor, optional): Query cameras, shape
            (Nq,); with ``g_camids`` applies the SYSU-MM01 camera rule.
        g_camids (np.ndarray | Tensor, optional): Gallery cameras, (Ng,).

    Returns:
        Tuple[np.ndarray, np.ndarray]: ``(scores, labels)`` of the kept
        pairs, row-major over (query, gallery item): the negated distances
        and whether the pair shares its identity.
    """
    if (q_camids is None) != (g_camids is None):
        raise ValueError('give both q_camids and g_camids (SYSU camera rule) '
                         'or neither (RegDB), got only '
                         f'{"q_camids" if g_camids is None else "g_camids"}')
    distmat, q_pids, g_pids = map(_to_numpy, (distmat, q_pids, g_pids))
    labels = dict(q_pids=q_pids, g_pids=g_pids)
    if q_camids is not None:
        labels.update(
            q_camids=_to_numpy(q_camids), g_camids=_to_numpy(g_camids))
    _check_inputs(distmat, 1, **labels)  # shapes only (no CMC here)
    same = q_pids[:, None] == g_pids[None, :]
    if q_camids is None:
        keep = np.ones(distmat.shape, dtype=bool)
    else:
        keep = sysu_keep_mask(labels['q_camids'], labels['g_camids'])
    # a query without a true match left counts nowhere, as in the ranking
    keep &= (same & keep).any(axis=1, keepdims=True)
    return -distmat[keep], same[keep]


def verification_roc(
        distmat: ArrayLike,
        q_pids: ArrayLike,
        g_pids: ArrayLike,
        q_camids: Optional[ArrayLike] = None,
        g_camids: Optional[ArrayLike] = None,
        num_points: int = ROC_POINTS) -> Tuple[float, np.ndarray, np.ndarray]:
    """ROC / AUC of same-identity verification over all kept pairs.

    Args:
        distmat (np.ndarray | Tensor): Distances of shape (Nq, Ng).
        q_pids (np.ndarray | Tensor): Query identities, shape (Nq,).
        g_pids (np.ndarray | Tensor): Gallery identities, shape (Ng,).
        q_camids (np.ndarray | Tensor, optional): Query cameras (SYSU rule).
        g_camids (np.ndarray | Tensor, optional): Gallery cameras.
        num_points (int): Points of the returned curve. Defaults to
            :data:`ROC_POINTS`.

    Returns:
        Tuple[float, np.ndarray, np.ndarray]: ``(auc, fpr, tpr)`` of
        :func:`roc_auc` (``num_points`` grid points) over the pairs of
        :func:`verification_pairs`.
    """
    scores, labels = verification_pairs(distmat, q_pids, g_pids, q_camids,
                                        g_camids)
    return roc_auc(scores, labels, num_points)
