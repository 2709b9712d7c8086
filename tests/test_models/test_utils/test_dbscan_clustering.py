import numpy as np
import pytest
import scipy.sparse as sp
import torch
from tool_scripts import load_tool

from mmvireid.models.utils import (cluster_dbscan, describe_clusters,
                                   k_reciprocal_jaccard, radius_graph,
                                   sparse_dbscan)

baseline = load_tool('analysis_tools/baselines/cluster_contrast_jaccard.py')


def clustered(num=400, dim=32, clusters=20, noise=1.3, seed=3):
    g = torch.Generator().manual_seed(seed)
    centres = torch.randn(clusters, dim, generator=g)
    labels = torch.randint(0, clusters, (num, ), generator=g)
    return centres[labels] + noise * torch.randn(num, dim, generator=g)


def same_partition(a, b):
    if not np.array_equal(a < 0, b < 0):
        return False
    a, b = a[a >= 0], b[b >= 0]
    pairs = np.unique(np.stack([a, b]), axis=1).shape[1]
    return pairs == len(np.unique(a)) == len(np.unique(b))


@pytest.fixture(scope='module')
def reference():
    feats = clustered()
    return feats, baseline.dense_jaccard(feats, 20, 6)


@pytest.mark.parametrize('eps,min_samples', [(0.35, 4), (0.45, 4), (0.62, 4),
                                             (0.6, 2), (0.55, 8)])
def test_same_labels_as_dense(reference, eps, min_samples):
    feats, ref = reference
    assert not np.any(np.abs(ref - eps) < 1e-6)
    want = baseline.dense_dbscan(ref, eps, min_samples)
    got = cluster_dbscan(feats, eps, min_samples, k1=20, k2=6)
    assert got.dtype == np.int64 and got.shape == (len(feats), )
    assert same_partition(want, got)
    assert got.max() + 1 == len(np.unique(got[got >= 0]))


def test_clusters_found(reference):
    feats, _ = reference
    labels = cluster_dbscan(feats, 0.6, k1=20, k2=6, verbose=True)
    stats = describe_clusters(labels)
    assert 10 <= stats['num_clusters'] <= 30
    assert stats['largest'] < len(feats) / 2


def test_radius_graph():
    dist = sp.csr_matrix(
        (np.array([0.0, 0.5, 0.2, 0.0, 0.9, 0.0, 0.3]),
         (np.array([0, 0, 0, 1, 1, 2, 2]), np.array([0, 1, 2, 1, 2, 2, 0]))),
        shape=(3, 3))
    graph = radius_graph(dist, 0.5)
    assert graph.nnz == 6  # 0.9 dropped, the stored zeros kept
    for i in range(3):
        row = graph.data[graph.indptr[i]:graph.indptr[i + 1]]
        assert (np.diff(row) >= 0).all()
    np.testing.assert_array_equal(
        graph.toarray(), np.where(dist.toarray() <= 0.5, dist.toarray(), 0))


def test_sparse_dbscan_matches_dense(reference):
    feats, ref = reference
    dist = k_reciprocal_jaccard(feats, 20, 6)
    assert same_partition(
        sparse_dbscan(dist, 0.45), baseline.dense_dbscan(ref, 0.45))


def test_describe_clusters():
    assert describe_clusters(np.array([0, 0, 1, -1])) == dict(
        num_clusters=2, num_outliers=1, largest=2)
    assert describe_clusters(np.array([-1, -1])) == dict(
        num_clusters=0, num_outliers=2, largest=0)


def test_invalid_inputs():
    with pytest.raises(ValueError, match='N >= 2'):
        cluster_dbscan(torch.zeros(1, 4), eps=0.5)
    with pytest.raises(ValueError, match='2-D'):
        cluster_dbscan(torch.zeros(4), eps=0.5)
    with pytest.raises(ValueError, match='2-D'):
        cluster_dbscan(np.zeros((4, 4)), eps=0.5)
    with pytest.raises(ValueError, match='eps'):
        cluster_dbscan(clustered(num=20), eps=1.0)
    with pytest.raises(ValueError, match='min_samples'):
        cluster_dbscan(clustered(num=20), eps=0.5, min_samples=0)
