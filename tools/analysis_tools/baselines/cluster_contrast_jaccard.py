"""Baseline: the k-reciprocal Jaccard distance written the reference way.

This mirrors how Cluster-Contrast's ``compute_jaccard_distance``
(https://github.com/alibaba/cluster-contrast-reid, after Zhong et al.,
CVPR 2017) computes it: faiss exact search for the initial ranking, dense
N x N ``V`` and distance matrices, Python loops over samples and an
inverted index. It exists to check and time mmvireid's sparse version
(``mmvireid.models.utils.k_reciprocal_jaccard``); do not use it for
training.
"""
import numpy as np
import torch
import torch.nn.functional as F


def initial_ranking(feats: torch.Tensor, k: int) -> np.ndarray:
    """Top-k neighbours (self included): faiss flat L2 if installed."""
    x = np.ascontiguousarray(feats.numpy(), dtype=np.float32)
    try:
        import faiss
    except ImportError:
        sims = feats @ feats.t()
        return torch.argsort(-sims, dim=1, stable=True)[:, :k].numpy()
    index = faiss.IndexFlatL2(x.shape[1])
    index.add(x)
    return index.search(x, k)[1]


def k_reciprocal_neigh(initial_rank: np.ndarray, i: int,
                       k1: int) -> np.ndarray:
    """R(i, k1) as the reference computes it."""
    forward = initial_rank[i, :k1 + 1]
    backward = initial_rank[forward, :k1 + 1]
    return forward[np.where(backward == i)[0]]


def dense_jaccard(features: torch.Tensor,
                  k1: int = 30,
                  k2: int = 6) -> np.ndarray:
    """Dense (N, N) float32 Jaccard distance, reference style."""
    feats = F.normalize(features.float(), dim=1)
    num = len(feats)
    initial_rank = initial_ranking(feats, k1 + 1)
    V = np.zeros((num, num), dtype=np.float32)
    for i in range(num):
        k_reciprocal = k_reciprocal_neigh(initial_rank, i, k1)
        expansion = k_reciprocal
        for candidate in k_reciprocal:
            candidate_set = k_reciprocal_neigh(initial_rank, candidate,
                                               int(np.around(k1 / 2)))
            if len(np.intersect1d(candidate_set, k_reciprocal)) > \
                    2 / 3 * len(candidate_set):
                expansion = np.append(expansion, candidate_set)
        expansion = np.unique(expansion)
        dist = 2 - 2 * (feats[i:i + 1] @ feats[expansion].t())
        V[i, expansion] = F.softmax(-dist, dim=1).view(-1).numpy()
    if k2 != 1:
        V_qe = np.zeros_like(V)
        for i in range(num):
            V_qe[i] = V[initial_rank[i, :k2]].mean(0)
        V = V_qe
    inverted = [np.where(V[:, j] != 0)[0] for j in range(num)]
    jaccard = np.zeros((num, num), dtype=np.float32)
    for i in range(num):
        temp_min = np.zeros((1, num), dtype=np.float32)
        for j in np.where(V[i] != 0)[0]:
            temp_min[0, inverted[j]] += np.minimum(V[i, j], V[inverted[j], j])
        jaccard[i] = 1 - temp_min / (2 - temp_min)
    jaccard[jaccard < 0] = 0
    return jaccard


def dense_dbscan(dist: np.ndarray,
                 eps: float,
                 min_samples: int = 4) -> np.ndarray:
    """scikit-learn DBSCAN on the dense precomputed matrix."""
    from sklearn.cluster import DBSCAN
    return DBSCAN(
        eps=eps, min_samples=min_samples, metric='precomputed',
        n_jobs=-1).fit_predict(dist)
