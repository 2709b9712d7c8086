import importlib.util
import os.path as osp

import numpy as np
import pytest
import scipy.sparse as sp
import torch
from sklearn.cluster import DBSCAN
from sklearn.metrics import adjusted_rand_score

from mmvireid.models.utils import (cluster_dbscan, describe_clusters,
                                   k_reciprocal_jaccard)

ROOT = osp.dirname(
    osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))
spec = importlib.util.spec_from_file_location(
    'cluster_contrast_jaccard',
    osp.join(ROOT,
             'tools/analysis_tools/baselines/cluster_contrast_jaccard.py'))
baseline = importlib.util.module_from_spec(spec)
spec.loader.exec_module(baseline)


def clustered(num=400, dim=32, clusters=20, noise=1.0, seed=0):
    g = torch.Generator().manual_seed(seed)
    centres = torch.randn(clusters, dim, generator=g)
    labels = torch.randint(0, clusters, (num, ), generator=g)
    return centres[labels] + noise * torch.randn(num, dim, generator=g)


@pytest.mark.parametrize('k1,k2,noise', [(20, 6, 1.0), (10, 1, 0.6),
                                         (15, 4, 1.6)])
def test_equals_reference_formulation(k1, k2, noise):
    feats = clustered(noise=noise)
    ref = baseline.dense_jaccard(feats, k1, k2)
    ours = k_reciprocal_jaccard(feats, k1, k2)
    assert isinstance(ours, sp.csr_matrix)
    coo = ours.tocoo()
    np.testing.assert_allclose(coo.data, ref[coo.row, coo.col], atol=1e-5)
    stored = np.zeros(ref.shape, dtype=bool)
    stored[coo.row, coo.col] = True
    assert (ref[~stored] >= 1 - 1e-6).all()
    assert (coo.data < 1).all()
    # the diagonal is stored (DBSCAN must count a point as its own neighbour)
    assert stored.diagonal().all() and np.allclose(ours.diagonal(), 0)


@pytest.mark.parametrize('eps', [0.3, 0.45, 0.62])
def test_same_dbscan_labels_as_dense(eps):
    feats = clustered(noise=1.3, seed=3)
    ref = baseline.dense_jaccard(feats, 20, 6)
    assert not np.any(np.abs(ref - eps) < 1e-6)
    want = baseline.dense_dbscan(ref, eps)
    got = cluster_dbscan(feats, eps=eps, k1=20, k2=6)
    assert adjusted_rand_score(want, got) == 1.0
    assert ((want == -1) == (got == -1)).all()


def test_reciprocal_sets_by_hand():
    # two tight pairs far apart: with k1=1 each point's only reciprocal
    # neighbour is its partner
    feats = torch.tensor([[1.0, 0.0], [0.99, 0.14], [0.0, 1.0], [0.14, 0.99]])
    dist = k_reciprocal_jaccard(feats, k1=1, k2=1).toarray()
    assert dist[0, 1] < 1 and dist[2, 3] < 1
    assert dist[0, 2] == 0 and dist[1, 3] == 0  # not stored: means 1
    ref = baseline.dense_jaccard(feats, 1, 1)
    assert ref[0, 2] == 1 and ref[0, 1] == pytest.approx(dist[0, 1], abs=1e-6)


def test_sparse_precomputed_dbscan_semantics():
    # stored zeros are neighbours, missing entries are not
    dist = sp.csr_matrix(
        (np.array([0.0, 0.0, 0.0, 0.1, 0.1]),
         (np.array([0, 1, 2, 0, 1]), np.array([0, 1, 2, 1, 0]))),
        shape=(3, 3))
    labels = DBSCAN(
        eps=0.2, min_samples=2, metric='precomputed').fit_predict(dist)
    assert labels[0] == labels[1] >= 0 and labels[2] == -1


def test_describe_and_errors():
    assert describe_clusters(np.array([0, 0, 1, -1])) == dict(
        num_clusters=2, num_outliers=1, largest=2)
    assert describe_clusters(np.array([-1]))['num_clusters'] == 0
    with pytest.raises(ValueError, match='N >= 2'):
        cluster_dbscan(torch.zeros(1, 4), eps=0.5)
