import numpy as np
import pytest
import torch

from mmvireid.evaluation.functional import k_reciprocal_rerank, re_ranking


def _reference_re_ranking(q_g_dist,
                          q_q_dist,
                          g_g_dist,
                          k1=20,
                          k2=6,
                          lambda_value=0.3):
    """Literal port of the authors' ``re_ranking`` (person-re-ranking)."""
    original_dist = np.concatenate([
        np.concatenate([q_q_dist, q_g_dist], axis=1),
        np.concatenate([q_g_dist.T, g_g_dist], axis=1)
    ],
                                   axis=0)
    original_dist = np.power(original_dist, 2).astype(np.float32)
    original_dist = np.transpose(1. * original_dist /
                                 np.max(original_dist, axis=0))
    V = np.zeros_like(original_dist).astype(np.float32)
    initial_rank = np.argsort(original_dist).astype(np.int32)
    query_num = q_g_dist.shape[0]
    gallery_num = q_g_dist.shape[0] + q_g_dist.shape[1]
    all_num = gallery_num
    for i in range(all_num):
        forward_k_neigh_index = initial_rank[i, :k1 + 1]
        backward_k_neigh_index = initial_rank[forward_k_neigh_index, :k1 + 1]
        fi = np.where(backward_k_neigh_index == i)[0]
        k_reciprocal_index = forward_k_neigh_index[fi]
        k_reciprocal_expansion_index = k_reciprocal_index
        for j in range(len(k_reciprocal_index)):
            candidate = k_reciprocal_index[j]
            half = int(np.around(k1 / 2.)) + 1
            candidate_forward_k_neigh_index = initial_rank[candidate, :half]
            candidate_backward_k_neigh_index = initial_rank[
                candidate_forward_k_neigh_index, :half]
            fi_candidate = np.where(
                candidate_backward_k_neigh_index == candidate)[0]
            candidate_k_reciprocal_index = candidate_forward_k_neigh_index[
                fi_candidate]
            if len(
                    np.intersect1d(candidate_k_reciprocal_index,
                                   k_reciprocal_index)
            ) > 2. / 3 * len(candidate_k_reciprocal_index):
                k_reciprocal_expansion_index = np.append(
                    k_reciprocal_expansion_index, candidate_k_reciprocal_index)
        k_reciprocal_expansion_index = np.unique(k_reciprocal_expansion_index)
        weight = np.exp(-original_dist[i, k_reciprocal_expansion_index])
        V[i, k_reciprocal_expansion_index] = 1. * weight / np.sum(weight)
    original_dist = original_dist[
        :query_num,
    ]
    if k2 != 1:
        V_qe = np.zeros_like(V, dtype=np.float32)
        for i in range(all_num):
            V_qe[i, :] = np.mean(V[initial_rank[i, :k2], :], axis=0)
        V = V_qe
    invIndex = []
    for i in range(gallery_num):
        invIndex.append(np.where(V[:, i] != 0)[0])
    jaccard_dist = np.zeros_like(original_dist, dtype=np.float32)
    for i in range(query_num):
        temp_min = np.zeros(shape=[1, gallery_num], dtype=np.float32)
        indNonZero = np.where(V[i, :] != 0)[0]
        indImages = [invIndex[ind] for ind in indNonZero]
        for j in range(len(indNonZero)):
            temp_min[0, indImages[j]] = temp_min[0, indImages[j]] + np.minimum(
                V[i, indNonZero[j]], V[indImages[j], indNonZero[j]])
        jaccard_dist[i] = 1 - temp_min / (2. - temp_min)
    final_dist = jaccard_dist * (1 - lambda_value) + \
        original_dist * lambda_value
    return final_dist[:query_num, query_num:]


def _euclidean(x, y):
    return np.sqrt(
        np.maximum((x**2).sum(1)[:, None] + (y**2).sum(1)[None] - 2 * x @ y.T,
                   0))


@pytest.mark.parametrize('k1,k2,lam', [(20, 6, 0.3), (5, 3, 0.5), (6, 1, 0.),
                                       (3, 2, 1.0), (80, 6, 0.3)])
def test_re_ranking_matches_authors_code(k1, k2, lam):
    rng = np.random.default_rng(k1 * 10 + k2)
    # clustered data so that k-reciprocal sets and expansions are non-trivial
    centers = rng.standard_normal((6, 8))
    query = centers[rng.integers(0, 6, 15)] + 0.5 * rng.standard_normal(
        (15, 8))
    gallery = centers[rng.integers(0, 6, 45)] + 0.5 * rng.standard_normal(
        (45, 8))
    dists = (_euclidean(query, gallery), _euclidean(query, query),
             _euclidean(gallery, gallery))
    ours = re_ranking(*dists, k1=k1, k2=k2, lambda_value=lam)
    expected = _reference_re_ranking(*dists, k1=k1, k2=k2, lambda_value=lam)
    assert ours.dtype == np.float32 and ours.shape == (15, 45)
    np.testing.assert_allclose(ours, expected, rtol=0, atol=2e-6)


def test_k_reciprocal_rerank_equals_re_ranking_of_normalised_features(
        monkeypatch):
    rng = np.random.default_rng(3)
    query = rng.standard_normal((30, 16)).astype(np.float32)
    gallery = rng.standard_normal((90, 16)).astype(np.float32)
    qn = query / np.linalg.norm(query, axis=1, keepdims=True)
    gn = gallery / np.linalg.norm(gallery, axis=1, keepdims=True)
    expected = _reference_re_ranking(
        _euclidean(qn, gn), _euclidean(qn, qn), _euclidean(gn, gn))
    # few pairs per Jaccard block: exercises the row-chunked accumulation
    from mmvireid.evaluation.functional import reranking
    monkeypatch.setattr(reranking, '_MAX_PAIRS', 500)
    ours = k_reciprocal_rerank(torch.from_numpy(query), gallery)
    np.testing.assert_allclose(ours, expected, rtol=0, atol=1e-5)


def test_reciprocal_true_match_moves_up():
    # unit vectors on a circle (distance grows with the angle gap). The
    # query (angle 0) and its true match t (-0.17) share a positive group
    # p1, t, p2; the distractor d (+0.12) is the raw nearest neighbour but
    # sits in a dense negative group n1..n4, so with k1 = 4 the query is not
    # among d's 5 nearest: d is not k-reciprocal, while p1 and t are.
    names = ['d', 'n1', 'n2', 'n3', 'n4', 'p1', 't', 'p2']
    angles = np.array([.12, .16, .18, .20, .22, -.13, -.17, -.19])
    gallery = np.stack([np.cos(angles), np.sin(angles)], axis=1)
    query = np.array([[1., 0.]])
    raw = 2 - 2 * query @ gallery.T
    assert [names[i] for i in np.argsort(raw[0])][:4] == ['d', 'p1', 'n1', 't']
    reranked = k_reciprocal_rerank(
        query, gallery, k1=4, k2=1, lambda_value=0.3)
    order = [names[i] for i in np.argsort(reranked[0])]
    assert order[:4] == ['p1', 't', 'p2', 'd']
    # non-reciprocal items share no k-reciprocal neighbour with the query:
    # Jaccard distance 1, final = 0.7 + 0.3 * raw / max(raw)
    np.testing.assert_allclose(
        reranked[0, :5], 0.7 + 0.3 * raw[0, :5] / raw[0].max(), atol=1e-5)
