"""BASELINE: the k-reciprocal Jaccard distance computed the reference way.

A re-implementation, for checking and timing only, of how Cluster-Contrast's
``compute_jaccard_distance(features, k1, k2, search_option=3)``
(https://github.com/alibaba/cluster-contrast-reid, file
``clustercontrast/utils/faiss_rerank.py``; after Zhong et al., CVPR 2017,
https://arxiv.org/abs/1701.08398) works on CPU:

- initial ranking by an exact faiss ``IndexFlatL2`` search (its
  ``index_init_cpu``) of ``k1`` neighbours, self included;
- k-reciprocal sets ``R(i, k1)`` and ``R(i, round(k1/2))`` in Python loops;
- a dense N x N float32 ``V``, its query-expanded copy, an inverted index
  and a dense N x N float32 Jaccard matrix, filled row by row.

It needs O(N^2) memory (3 x 2 GB at N = 22 258) and minutes of Python
loops. mmvireid trains with the sparse, vectorised
:func:`mmvireid.models.utils.k_reciprocal_jaccard`; do not use this module
for training.
"""
from typing import Optional

import numpy as np
import torch
import torch.nn.functional as F
from sklearn.cluster import DBSCAN


def initial_ranking(feats: torch.Tensor, k: int) -> np.ndarray:
    """(N, k) indices of each row's k nearest rows (self included).

    faiss ``IndexFlatL2`` as Cluster-Contrast's CPU search; a torch
    fallback (same order up to ties) when faiss is not installed.
    """
    x = np.ascontiguousarray(feats.cpu().numpy(), dtype=np.float32)
    try:
        import faiss
    except ImportError:
        dist = torch.cdist(feats, feats)
        return torch.topk(dist, k, dim=1, largest=False)[1].numpy()
    index = faiss.IndexFlatL2(x.shape[1])
    index.add(x)
    return index.search(x, k)[1]


def k_reciprocal_neigh(initial_rank: np.ndarray, i: int,
                       k1: int) -> np.ndarray:
    """R(i, k1): i's top ``k1 + 1`` whose own top ``k1 + 1`` holds i."""
    forward = initial_rank[i, :k1 + 1]
    backward = initial_rank[forward, :k1 + 1]
    return forward[np.where(backward == i)[0]]


def dense_jaccard(features: torch.Tensor,
                  k1: int = 30,
                  k2: int = 6,
                  num_neighbours: Optional[int] = None) -> np.ndarray:
    """Dense (N, N) float32 k-reciprocal Jaccard distance, reference style.

    Args:
        features (Tensor): (N, D) features (L2-normalised here).
        k1 (int): k-reciprocal neighbourhood size.
        k2 (int): Local query expansion size (1 disables it).
        num_neighbours (int, optional): Length of the initial ranking;
            ``k1`` (the default) as Cluster-Contrast.

    Returns:
        np.ndarray: (N, N) float32 distances in [0, 1].
    """
    feats = F.normalize(features.detach().cpu().float(), dim=1)
    num = len(feats)
    initial_rank = initial_ranking(feats, min(num_neighbours or k1, num))
    nn_k1 = [k_reciprocal_neigh(initial_rank, i, k1) for i in range(num)]
    nn_k1_half = [
        k_reciprocal_neigh(initial_rank, i, int(np.around(k1 / 2)))
        for i in range(num)
    ]

    V = np.zeros((num, num), dtype=np.float32)
    for i in range(num):
        k_reciprocal_index = nn_k1[i]
        expansion = k_reciprocal_index
        for candidate in k_reciprocal_index:
            candidate_set = nn_k1_half[candidate]
            overlap = np.intersect1d(candidate_set, k_reciprocal_index)
            if len(overlap) > 2 / 3 * len(candidate_set):
                expansion = np.append(expansion, candidate_set)
        expansion = np.unique(expansion)
        # (a torch index: indexing with a numpy array is a slow path)
        rows = feats[torch.from_numpy(expansion)]
        dist = 2 - 2 * torch.mm(feats[i:i + 1], rows.t())
        V[i, expansion] = F.softmax(-dist, dim=1).view(-1).numpy()
    del nn_k1, nn_k1_half

    if k2 != 1:
        V_qe = np.zeros_like(V)
        for i in range(num):
            V_qe[i] = np.mean(V[initial_rank[i, :k2]], axis=0)
        V = V_qe
        del V_qe

    inv_index = [np.where(V[:, j] != 0)[0] for j in range(num)]
    jaccard = np.zeros((num, num), dtype=np.float32)
    for i in range(num):
        temp_min = np.zeros((1, num), dtype=np.float32)
        nonzero = np.where(V[i] != 0)[0]
        for j in nonzero:
            images = inv_index[j]
            temp_min[0, images] += np.minimum(V[i, j], V[images, j])
        jaccard[i] = 1 - temp_min / (2 - temp_min)
    del inv_index, V
    jaccard[jaccard < 0] = 0
    return jaccard


def dense_dbscan(dist: np.ndarray,
                 eps: float,
                 min_samples: int = 4) -> np.ndarray:
    """scikit-learn DBSCAN on a dense precomputed distance matrix.

    Returns:
        np.ndarray: (N,) labels, ``-1`` for outliers.
    """
    return DBSCAN(
        eps=eps, min_samples=min_samples, metric='precomputed',
        n_jobs=-1).fit_predict(dist)
