"""DBSCAN over the sparse k-reciprocal Jaccard distance."""
from typing import Dict

import numpy as np
import torch
from sklearn.cluster import DBSCAN

from .jaccard_distance import k_reciprocal_jaccard


def cluster_dbscan(features: torch.Tensor,
                   eps: float,
                   min_samples: int = 4,
                   k1: int = 30,
                   k2: int = 6,
                   n_jobs: int = -1,
                   **knn_kwargs) -> np.ndarray:
    """Pseudo-labels by DBSCAN on the k-reciprocal Jaccard distance.

    The standard pseudo-labelling step of cluster-contrast USL ReID
    (Ester et al., KDD 1996; Cluster-Contrast,
    https://arxiv.org/abs/2103.11568).

    Args:
        features (Tensor): (N, D) features.
        eps (float): DBSCAN neighbourhood radius on the Jaccard distance.
        min_samples (int): Core-point size, the point itself included.
        k1 (int): k-reciprocal neighbourhood size.
        k2 (int): Query-expansion size.
        n_jobs (int): Threads of scikit-learn's neighbour search.
        **knn_kwargs: Passed to :func:`k_reciprocal_jaccard`.

    Returns:
        np.ndarray: (N,) labels 0..K-1, ``-1`` for outliers.
    """
    if features.dim() != 2 or len(features) < 2:
        raise ValueError('clustering needs (N, D) features with N >= 2, got '
                         f'shape {tuple(features.shape)}')
    distance = k_reciprocal_jaccard(features, k1=k1, k2=k2, **knn_kwargs)
    return DBSCAN(
        eps=eps, min_samples=min_samples, metric='precomputed',
        n_jobs=n_jobs).fit_predict(distance)


def describe_clusters(labels: np.ndarray) -> Dict[str, int]:
    """Cluster count, outlier count and largest cluster size."""
    labels = np.asarray(labels)
    kept = labels[labels >= 0]
    return dict(
        num_clusters=int(len(np.unique(kept))),
        num_outliers=int((labels < 0).sum()),
        largest=int(np.bincount(kept).max()) if len(kept) else 0)
