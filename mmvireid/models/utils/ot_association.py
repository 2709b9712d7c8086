"""Cross-modal association of instances with prototypes by entropic OT.

SALCR's dual association (DAGL, Eq. 4-6, https://arxiv.org/abs/2504.19244):
the cost between an instance and a prototype of the other modality is their
squared Euclidean distance; the Sinkhorn plan with uniform marginals
spreads instances evenly over prototypes, and each instance takes the
prototype its plan row prefers.
"""
from typing import Tuple

import numpy as np
import ot
import torch
import torch.nn.functional as F


def sinkhorn_association(features: torch.Tensor,
                         prototypes: torch.Tensor,
                         lambda_ot: float = 5.0,
                         num_iters: int = 500,
                         stop_thr: float = 1e-6,
                         reference_stop: bool = False) -> torch.Tensor:
    """Label of each instance: argmax of its row of the OT plan
    (:func:`sinkhorn_plan`); ``-1`` for every instance when either side is
    empty."""
    if len(features) == 0 or len(prototypes) == 0:
        return torch.full((len(features), ), -1, dtype=torch.long)
    return sinkhorn_plan(features, prototypes, lambda_ot, num_iters, stop_thr,
                         reference_stop).argmax(1)


def sinkhorn_plan(features: torch.Tensor,
                  prototypes: torch.Tensor,
                  lambda_ot: float = 5.0,
                  num_iters: int = 500,
                  stop_thr: float = 1e-6,
                  reference_stop: bool = False) -> torch.Tensor:
    """Entropic OT plan between instances and prototypes (uniform marginals,
    squared Euclidean cost).

    Args:
        features (Tensor): (N, D) instance features.
        prototypes (Tensor): (K, D) prototypes of the other modality.
        lambda_ot (float): Kernel sharpness: the plan is built from
            ``exp(-lambda_ot * cost)`` (POT's ``reg = 1 / lambda_ot``).
        num_iters (int): Iteration cap.
        stop_thr (float): POT's stopping threshold on the marginal error.
            The problem is solved in float64: in float32 POT's default
            threshold (1e-9) is never met and every iteration runs.
        reference_stop (bool): Use the SALCR reference's rule instead of
            POT: plain Sinkhorn scaling stopped when the column scaling
            changes by less than 10 % (relative L1), or after
            ``num_iters``. This reproduces the published association.

    Returns:
        Tensor: ``(N, K)`` float64 plan (on the CPU); both sides non-empty.
    """
    f = features.detach().double().cpu()
    p = prototypes.detach().double().cpu()
    cost = torch.cdist(f, p).pow(2)
    a = torch.full((len(f), ), 1.0 / len(f), dtype=torch.float64)
    b = torch.full((len(p), ), 1.0 / len(p), dtype=torch.float64)
    if reference_stop:
        plan = _reference_sinkhorn(cost, a, b, lambda_ot, num_iters)
    else:
        plan = torch.from_numpy(
            ot.sinkhorn(
                a.numpy(),
                b.numpy(),
                cost.numpy(),
                1.0 / lambda_ot,
                numItermax=num_iters,
                stopThr=stop_thr))
    return plan


def _reference_sinkhorn(cost: torch.Tensor, a: torch.Tensor, b: torch.Tensor,
                        lambda_ot: float, num_iters: int) -> torch.Tensor:
    """Sinkhorn scaling with the SALCR reference's 10 % stopping rule."""
    kernel = torch.exp(-lambda_ot * cost)
    v = torch.ones_like(b)
    for _ in range(num_iters):
        u = a / (kernel @ v)
        v_new = b / (kernel.t() @ u)
        change = (v_new - v).abs().sum() / v.abs().sum()
        v = v_new
        if change < 0.1:
            break
    return u[:, None] * kernel * v[None, :]


def cluster_centroids(features: torch.Tensor,
                      labels: torch.Tensor) -> torch.Tensor:
    """L2-normalised mean feature of each cluster 0..K-1 (−1 ignored)."""
    labels = torch.as_tensor(labels)
    kept = labels >= 0
    num = int(labels[kept].max()) + 1 if kept.any() else 0
    sums = torch.zeros(num, features.size(1), dtype=features.dtype)
    sums.index_add_(0, labels[kept], features[kept])
    return F.normalize(sums, dim=1)


def reassign_to_centroids(features: torch.Tensor,
                          centroids: torch.Tensor) -> torch.Tensor:
    """Nearest centroid (cosine) of each feature: CMFP(tr) re-assignment."""
    return (F.normalize(features, dim=1) @ centroids.t()).argmax(1)


def dual_association(feats_v: torch.Tensor, labels_v: torch.Tensor,
                     feats_r: torch.Tensor, labels_r: torch.Tensor,
                     centroids_v: torch.Tensor, centroids_r: torch.Tensor,
                     **kwargs) -> Tuple[torch.Tensor, torch.Tensor]:
    """Associate both ways: infrared -> visible and visible -> infrared.

    Outliers (label −1) and every instance of a modality facing no
    prototype get −1.

    Args:
        feats_v, feats_r (Tensor): Visible / infrared instance features.
        labels_v, labels_r (Tensor): Their intra-modality cluster labels.
        centroids_v, centroids_r (Tensor): Prototypes of each modality.
        **kwargs: :func:`sinkhorn_association` options.

    Returns:
        tuple: ``(cross_r, cross_v)``: for each infrared instance a visible
        cluster, for each visible instance an infrared cluster.
    """
    out = []
    for feats, labels, prototypes in ((feats_r, labels_r, centroids_v),
                                      (feats_v, labels_v, centroids_r)):
        labels = torch.as_tensor(labels)
        cross = torch.full_like(labels, -1)
        kept = labels >= 0
        if kept.any() and len(prototypes):
            cross[kept] = sinkhorn_association(feats[kept], prototypes,
                                               **kwargs)
        out.append(cross)
    return out[0], out[1]


def majority_identity(labels: np.ndarray, pids: np.ndarray) -> np.ndarray:
    """Majority true identity of every cluster 0..K-1 (−1: empty cluster)."""
    labels, pids = np.asarray(labels), np.asarray(pids)
    kept = labels >= 0
    num = int(labels[kept].max()) + 1 if kept.any() else 0
    majority = np.full(num, -1, dtype=np.int64)
    if not num:
        return majority
    uniq, code = np.unique(pids[kept], return_inverse=True)
    counts = np.zeros((num, len(uniq)), dtype=np.int64)
    np.add.at(counts, (labels[kept], code), 1)
    filled = counts.sum(1) > 0
    majority[filled] = uniq[counts[filled].argmax(1)]
    return majority


def association_accuracy(cross_labels: np.ndarray, own_pids: np.ndarray,
                         other_labels: np.ndarray,
                         other_pids: np.ndarray) -> float:
    """Fraction of associated instances whose cluster's majority identity
    is their own (ground-truth diagnostics; −1 instances excluded)."""
    cross_labels = np.asarray(cross_labels)
    kept = cross_labels >= 0
    if not kept.any():
        return 0.0
    majority = majority_identity(other_labels, other_pids)
    return float(
        np.mean(majority[cross_labels[kept]] == np.asarray(own_pids)[kept]))


def association_chance(other_labels: np.ndarray, other_pids: np.ndarray,
                       own_pids: np.ndarray) -> float:
    """Expected accuracy of assigning each instance a uniformly random
    cluster of the other modality."""
    majority = majority_identity(other_labels, other_pids)
    majority = majority[majority >= 0]
    if not len(majority):
        return 0.0
    matches = (np.asarray(own_pids)[:, None] == majority[None, :]).sum(1)
    return float(matches.mean() / len(majority))
