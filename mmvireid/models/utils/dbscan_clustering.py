"""DBSCAN pseudo-labels over the sparse k-reciprocal Jaccard distance.

The pseudo-labelling step of cluster-contrast unsupervised ReID
(Cluster-Contrast, https://arxiv.org/abs/2103.11568; DBSCAN: Ester et al.,
KDD 1996): scikit-learn's ``DBSCAN(eps, min_samples, metric='precomputed')``
on the Jaccard distance, here fed the sparse matrix of
:func:`k_reciprocal_jaccard` instead of a dense N x N array.

With a sparse precomputed matrix, scikit-learn takes only the STORED entries
as neighbour candidates (stored zeros included, missing entries are never
neighbours), so the labels equal those of the dense matrix whenever
``eps < 1``: every pair that is not stored is at distance 1 > eps.
"""
from typing import Dict

import numpy as np
import scipy.sparse as sp
import torch
from mmengine.logging import print_log
from sklearn.cluster import DBSCAN

from .jaccard_distance import k_reciprocal_jaccard


def radius_graph(dist: sp.csr_matrix, eps: float) -> sp.csr_matrix:
    """Entries ``<= eps`` of ``dist``, each row sorted by distance.

    This is exactly what DBSCAN looks at; sorting the rows here (one
    vectorised ``lexsort``) spares scikit-learn its row-by-row sort.
    Explicit zeros are kept.
    """
    dist = sp.csr_matrix(dist)
    keep = np.flatnonzero(dist.data <= eps)
    indptr = np.searchsorted(keep, dist.indptr)
    rows = np.repeat(np.arange(dist.shape[0]), np.diff(indptr))
    values, cols = dist.data[keep], dist.indices[keep]
    order = np.lexsort((values, rows))
    return sp.csr_matrix((values[order], cols[order], indptr),
                         shape=dist.shape)


def sparse_dbscan(dist: sp.csr_matrix,
                  eps: float,
                  min_samples: int = 4,
                  n_jobs: int = -1) -> np.ndarray:
    """DBSCAN labels of a sparse precomputed distance matrix.

    Args:
        dist (scipy.sparse.csr_matrix): (N, N) distances; missing entries
            are "not neighbours" (distance above any ``eps``).
        eps (float): Neighbourhood radius, in (0, 1).
        min_samples (int): Core-point size, the point itself included.
        n_jobs (int): Passed to scikit-learn.

    Returns:
        np.ndarray: (N,) int64 labels 0..K-1, ``-1`` for outliers.
    """
    if not 0 < eps < 1:
        raise ValueError('eps must be in (0, 1) for the Jaccard distance '
                         f'(pairs that are not stored are at 1), got {eps}')
    if min_samples < 1:
        raise ValueError(f'min_samples must be >= 1, got {min_samples}')
    labels = DBSCAN(
        eps=eps, min_samples=min_samples, metric='precomputed',
        n_jobs=n_jobs).fit_predict(radius_graph(dist, eps))
    return labels.astype(np.int64)


def cluster_dbscan(features: torch.Tensor,
                   eps: float,
                   min_samples: int = 4,
                   k1: int = 30,
                   k2: int = 6,
                   n_jobs: int = -1,
                   verbose: bool = False,
                   **knn_kwargs) -> np.ndarray:
    """Pseudo-labels by DBSCAN on the k-reciprocal Jaccard distance.

    Args:
        features (Tensor): (N, D) features (L2-normalised inside).
        eps (float): DBSCAN radius on the Jaccard distance, in (0, 1).
        min_samples (int): Core-point size, the point itself included.
            Defaults to 4.
        k1 (int): k-reciprocal neighbourhood size. Defaults to 30.
        k2 (int): Query-expansion size. Defaults to 6.
        n_jobs (int): Passed to scikit-learn's DBSCAN.
        verbose (bool): Log :func:`describe_clusters` of the result.
        **knn_kwargs: ``chunk_size``, ``knn_backend``, ``faiss_index``,
            ``nlist``, ``nprobe``, ``num_neighbours`` of
            :func:`k_reciprocal_jaccard` (``max_distance`` is ``eps``).

    Returns:
        np.ndarray: (N,) int64 labels 0..K-1, ``-1`` for outliers.
    """
    if not isinstance(features, torch.Tensor) or features.dim() != 2:
        raise ValueError('clustering needs a 2-D (N, D) feature tensor, got '
                         f'{getattr(features, "shape", type(features))}')
    if len(features) < 2:
        raise ValueError('clustering needs at least 2 samples (N >= 2), got '
                         f'shape {tuple(features.shape)}')
    # pairs beyond eps are never neighbours: not even stored
    knn_kwargs.setdefault('max_distance', eps)
    dist = k_reciprocal_jaccard(features, k1=k1, k2=k2, **knn_kwargs)
    labels = sparse_dbscan(dist, eps, min_samples, n_jobs)
    if verbose:
        print_log(
            f'DBSCAN (eps={eps}): {describe_clusters(labels)}',
            logger='current')
    return labels


def describe_clusters(labels: np.ndarray) -> Dict[str, int]:
    """Cluster count, outlier count and largest cluster size.

    Args:
        labels (np.ndarray): (N,) labels, ``-1`` for outliers.

    Returns:
        dict: ``num_clusters``, ``num_outliers`` and ``largest``.
    """
    labels = np.asarray(labels)
    kept = labels[labels >= 0]
    return dict(
        num_clusters=int(len(np.unique(kept))),
        num_outliers=int((labels < 0).sum()),
        largest=int(np.bincount(kept).max()) if len(kept) else 0)
