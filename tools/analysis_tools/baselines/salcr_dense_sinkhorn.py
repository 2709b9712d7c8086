"""BASELINE: SALCR's dual OT association with dense diagonal matrices.

A re-implementation, for checking and timing only, of how the SALCR
reference (https://arxiv.org/abs/2504.19244, DAGL, Eq. 4-6) associates the
instances of one modality with the prototypes of the other, in numpy:
squared Euclidean cost, kernel ``exp(-lambda * cost)``, uniform marginals,
Sinkhorn scaling stopped when the column scaling changes by less than 10 %
(relative L1) or after 500 iterations, and the plan formed as
``diag(u) @ K @ diag(v)`` with *dense* diagonal matrices, whose row argmax
is the label.

``diag(u)`` is an ``N x N`` float64 matrix (2.7 GiB for the ~19 000
non-outlier visible instances of SYSU-MM01) and the product with it costs
``2 N^2 K`` flops. mmvireid uses
:func:`mmvireid.models.utils.sinkhorn_association` (broadcast scaling, or
POT); do not use this module for training.
"""
from typing import Tuple

import numpy as np


def dense_sinkhorn_labels(features: np.ndarray,
                          prototypes: np.ndarray,
                          lambda_ot: float = 5.0,
                          num_iters: int = 500) -> np.ndarray:
    """Row argmax of the Sinkhorn plan built with dense diagonals.

    Args:
        features (np.ndarray): (N, D) instance features.
        prototypes (np.ndarray): (K, D) prototypes of the other modality.
        lambda_ot (float): Kernel sharpness.
        num_iters (int): Iteration cap.

    Returns:
        np.ndarray: (N,) int64 prototype index per instance.
    """
    f = np.asarray(features, dtype=np.float64)
    p = np.asarray(prototypes, dtype=np.float64)
    cost = (f * f).sum(1)[:, None] + (p * p).sum(1)[None, :] - 2 * f @ p.T
    cost = np.maximum(cost, 0)
    kernel = np.exp(-lambda_ot * cost)
    row_mass = np.full(len(f), 1.0 / len(f))
    col_mass = np.full(len(p), 1.0 / len(p))
    v = np.ones(len(p))
    for _ in range(num_iters):
        u = row_mass / (kernel @ v)
        v_new = col_mass / (kernel.T @ u)
        change = np.abs(v_new - v).sum() / np.abs(v).sum()
        v = v_new
        if change < 0.1:
            break
    plan = np.diag(u) @ kernel @ np.diag(v)
    return plan.argmax(1)


def _centroids(features: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """L2-normalised mean of each cluster 0..K-1 (label -1 ignored)."""
    num = int(labels.max()) + 1 if (labels >= 0).any() else 0
    centroids = np.zeros((num, features.shape[1]), dtype=np.float64)
    for c in range(num):
        members = features[labels == c]
        if len(members):
            centroids[c] = members.mean(0)
    norm = np.linalg.norm(centroids, axis=1, keepdims=True)
    return centroids / np.maximum(norm, 1e-12)


def dense_dual_association(
        feats_v: np.ndarray,
        labels_v: np.ndarray,
        feats_r: np.ndarray,
        labels_r: np.ndarray,
        lambda_ot: float = 5.0) -> Tuple[np.ndarray, np.ndarray]:
    """Associate both ways, reference style (outliers get -1).

    Args:
        feats_v, feats_r (np.ndarray): Visible / infrared features.
        labels_v, labels_r (np.ndarray): Intra-modality cluster labels,
            -1 for outliers.
        lambda_ot (float): Kernel sharpness.

    Returns:
        tuple: ``(cross_r, cross_v)``: a visible cluster per infrared
        instance and an infrared cluster per visible instance.
    """
    out = []
    for feats, labels, others, other_labels in ((feats_r, labels_r, feats_v,
                                                 labels_v),
                                                (feats_v, labels_v, feats_r,
                                                 labels_r)):
        prototypes = _centroids(others, other_labels)
        cross = np.full(len(labels), -1, dtype=np.int64)
        kept = labels >= 0
        cross[kept] = dense_sinkhorn_labels(feats[kept], prototypes, lambda_ot)
        out.append(cross)
    return out[0], out[1]
