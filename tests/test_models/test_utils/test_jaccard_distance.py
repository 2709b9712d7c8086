import sys

import numpy as np
import pytest
import scipy.sparse as sp
import torch
from sklearn.cluster import DBSCAN
from tool_scripts import load_tool

from mmvireid.models.utils import k_reciprocal_jaccard
from mmvireid.models.utils.jaccard_distance import (_encoding, _expanded_sets,
                                                    _jaccard_rows, _reciprocal)
from mmvireid.utils.knn import topk_similarity

baseline = load_tool('analysis_tools/baselines/cluster_contrast_jaccard.py')


def clustered(num=300, dim=32, clusters=15, noise=1.0, seed=0):
    g = torch.Generator().manual_seed(seed)
    centres = torch.randn(clusters, dim, generator=g)
    labels = torch.randint(0, clusters, (num, ), generator=g)
    return centres[labels] + noise * torch.randn(num, dim, generator=g)


@pytest.mark.parametrize('k1,k2,noise,num_neighbours', [
    (20, 6, 1.0, None),
    (10, 1, 0.6, None),
    (15, 4, 1.6, None),
    (25, 6, 1.2, None),
    (20, 6, 1.0, 21),
    (7, 9, 1.2, None),
])
def test_equals_reference_formulation(k1, k2, noise, num_neighbours):
    feats = clustered(noise=noise)
    ref = baseline.dense_jaccard(feats, k1, k2, num_neighbours)
    ours = k_reciprocal_jaccard(feats, k1, k2, num_neighbours=num_neighbours)
    assert isinstance(ours, sp.csr_matrix) and ours.shape == ref.shape
    coo = ours.tocoo()
    np.testing.assert_allclose(coo.data, ref[coo.row, coo.col], atol=1e-5)
    stored = np.zeros(ref.shape, dtype=bool)
    stored[coo.row, coo.col] = True
    assert (ref[~stored] >= 1 - 1e-6).all()
    assert ((coo.data >= 0) & (coo.data < 1)).all()
    # the diagonal is stored (a point must be its own DBSCAN neighbour)
    assert stored.diagonal().all()
    np.testing.assert_allclose(ours.diagonal(), 0, atol=1e-6)
    assert abs(ours - ours.T).max() < 1e-12


def test_reciprocal_sets_by_hand():
    ranks = np.array([[0, 1, 2], [1, 2, 0], [2, 1, 0]])
    # top 2: 1 does not have 0 in its top 2, 1 and 2 are mutual
    got = _reciprocal(ranks, 1).toarray().astype(bool)
    want = np.array([[1, 0, 0], [0, 1, 1], [0, 1, 1]], dtype=bool)
    np.testing.assert_array_equal(got, want)
    # top 3: everyone
    assert _reciprocal(ranks, 2).toarray().all()
    for i in range(3):
        assert set(np.flatnonzero(got[i])) == set(
            baseline.k_reciprocal_neigh(ranks, i, 1))


def test_expansion_matches_loops():
    rng = np.random.default_rng(0)
    num, k1 = 200, 12
    # a random ranking with self first, built from a noisy similarity
    x = rng.normal(size=(num, 8))
    ranks = np.argsort(-(x @ x.T + 30 * np.eye(num)), axis=1)[:, :k1]
    got = _expanded_sets(ranks, k1).toarray().astype(bool)
    half = int(np.around(k1 / 2))
    for i in range(num):
        r = baseline.k_reciprocal_neigh(ranks, i, k1)
        expansion = r
        for c in r:
            c_set = baseline.k_reciprocal_neigh(ranks, c, half)
            if len(np.intersect1d(c_set, r)) > 2 / 3 * len(c_set):
                expansion = np.append(expansion, c_set)
        assert set(np.flatnonzero(got[i])) == set(expansion.tolist())


def test_blocks_threads_and_max_distance():
    feats = torch.nn.functional.normalize(clustered(noise=1.4, seed=2), dim=1)
    sims, ranks = topk_similarity(feats, feats, 20)
    ranks = ranks.numpy()
    weights = _encoding(feats, _expanded_sets(ranks, 20), sims.numpy(), ranks)
    whole = _jaccard_rows(weights)
    # many tiny blocks (one row at a time, several threads) change nothing
    tiny = _jaccard_rows(weights, max_pairs=50, max_cells=len(feats))
    assert tiny.nnz == whole.nnz and abs(tiny - whole).max() < 1e-12
    # max_distance keeps exactly the pairs within it, explicit zeros too
    near = _jaccard_rows(weights, max_distance=0.5)
    dense = whole.toarray()
    stored = np.zeros(dense.shape, dtype=bool)
    stored[whole.nonzero()] = True
    stored[np.diag_indices(len(dense))] = True
    want = stored & (dense <= 0.5)
    got = np.zeros_like(want)
    got[near.tocoo().row, near.tocoo().col] = True
    np.testing.assert_array_equal(got, want)
    np.testing.assert_allclose(near.toarray(), np.where(want, dense, 0))
    # rows are grouped (valid CSR) and the matrix is symmetric
    assert (np.diff(near.indptr) >= 0).all() and near.indptr[-1] == near.nnz
    assert abs(near - near.T).max() == 0


def test_tiny_pairs():
    # two tight pairs far apart: with k1=1 each point's reciprocal set is
    # itself and its partner; the pairs share no support (distance 1)
    feats = torch.tensor([[1.0, 0.0], [0.99, 0.14], [0.0, 1.0], [0.14, 0.99]])
    dist = k_reciprocal_jaccard(feats, k1=1, k2=1, num_neighbours=2)
    dense = dist.toarray()
    ref = baseline.dense_jaccard(feats, 1, 1, num_neighbours=2)
    assert dist.nnz == 8  # 4 diagonal + 2 pairs, both ways
    assert dense[0, 1] == pytest.approx(ref[0, 1], abs=1e-6)
    assert 0 < dense[0, 1] < 1
    assert ref[0, 2] == 1 and (0, 2) not in set(zip(*dist.nonzero()))


def test_sparse_precomputed_dbscan_semantics():
    # stored zeros are neighbours (explicit 0 between 0 and 1) ...
    rows, cols = np.array([0, 1, 2, 0, 1]), np.array([0, 1, 2, 1, 0])
    dist = sp.csr_matrix((np.zeros(5), (rows, cols)), shape=(3, 3))
    assert dist.nnz == 5
    labels = DBSCAN(
        eps=0.2, min_samples=2, metric='precomputed').fit_predict(dist)
    assert labels[0] == labels[1] >= 0 and labels[2] == -1
    dense = np.array([[0, 0, 1], [0, 0, 1], [1, 1, 0]], dtype=float)
    np.testing.assert_array_equal(
        DBSCAN(eps=0.2, min_samples=2,
               metric='precomputed').fit_predict(dense), labels)
    # ... and missing entries are not, even though they read as 0
    diag = sp.csr_matrix((np.zeros(3), (np.arange(3), np.arange(3))),
                         shape=(3, 3))
    labels = DBSCAN(
        eps=0.2, min_samples=2, metric='precomputed').fit_predict(diag)
    assert (labels == -1).all()


def test_faiss_backend():
    pytest.importorskip('faiss')
    feats = clustered(seed=1)
    ref = k_reciprocal_jaccard(feats, 20, 6)
    flat = k_reciprocal_jaccard(feats, 20, 6, knn_backend='faiss')
    assert abs(ref - flat).max() < 1e-5
    # probing every list makes IVF exhaustive
    ivf = k_reciprocal_jaccard(
        feats,
        20,
        6,
        knn_backend='faiss',
        faiss_index='ivf',
        nlist=4,
        nprobe=4)
    assert abs(ref - ivf).max() < 1e-5
    with pytest.raises(ValueError, match='faiss_index'):
        k_reciprocal_jaccard(feats, knn_backend='faiss', faiss_index='hnsw')


def test_faiss_missing(monkeypatch):
    monkeypatch.setitem(sys.modules, 'faiss', None)
    with pytest.raises(ImportError, match='faiss-cpu'):
        k_reciprocal_jaccard(clustered(num=50), 10, knn_backend='faiss')


def test_small_and_invalid_inputs():
    # fewer samples than k1: the ranking is clamped to N
    dist = k_reciprocal_jaccard(clustered(num=5), k1=30, k2=6)
    ref = baseline.dense_jaccard(clustered(num=5), 30, 6)
    np.testing.assert_allclose(
        dist.toarray(), np.where(ref < 1, ref, 0), atol=1e-5)
    with pytest.raises(ValueError, match='N >= 2'):
        k_reciprocal_jaccard(torch.zeros(1, 4))
    with pytest.raises(ValueError, match='N >= 2'):
        k_reciprocal_jaccard(torch.zeros(8))
    with pytest.raises(ValueError, match='knn_backend'):
        k_reciprocal_jaccard(clustered(num=20), knn_backend='annoy')
    with pytest.raises(ValueError, match='k1 and k2'):
        k_reciprocal_jaccard(clustered(num=20), k1=0)
