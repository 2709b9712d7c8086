"""JaccardDBSCAN: cluster_dbscan per modality, checked when built."""
import pytest
import torch
import torch.nn.functional as F

from mmvireid.models.task_modules import BaseClusterer, JaccardDBSCAN
from mmvireid.models.utils import cluster_dbscan
from mmvireid.registry import TASK_UTILS
from mmvireid.structures import PseudoLabels
from mmvireid.utils import register_all_modules

register_all_modules()


def blobs(seed, num_ids, per_id, dim=16, noise=0.15, offset=None):
    """``per_id`` noisy copies of ``num_ids`` random unit centres."""
    gen = torch.Generator().manual_seed(seed)
    centres = F.normalize(torch.randn(num_ids, dim, generator=gen), dim=1)
    if offset is not None:
        centres = F.normalize(centres + offset, dim=1)
    feats = centres.repeat_interleave(per_id, 0)
    feats = feats + noise * torch.randn(feats.shape, generator=gen)
    return F.normalize(
        feats, dim=1), torch.arange(num_ids).repeat_interleave(per_id)


def interleaved(feats_a, feats_b, pids_a, pids_b):
    """Two modalities shuffled together in dataset order."""
    n = len(feats_a) + len(feats_b)
    ids = torch.cat([torch.zeros(len(feats_a)), torch.ones(len(feats_b))])
    ids = ids.long()[torch.randperm(
        n, generator=torch.Generator().manual_seed(2))]
    order_a, order_b = torch.nonzero(ids == 0).flatten(), torch.nonzero(
        ids == 1).flatten()
    feats = torch.empty(n, feats_a.size(1))
    feats[order_a], feats[order_b] = feats_a, feats_b
    pids = torch.empty(n, dtype=torch.long)
    pids[order_a], pids[order_b] = pids_a, pids_b
    return PseudoLabels(
        modalities=('visible', 'infrared'),
        modality_ids=ids,
        labels=torch.full((n, ), -1),
        features=feats,
        pids=pids)


@pytest.fixture
def pl():
    # an offset between the modalities: the features of a modality are not
    # centred (so centre_features changes them)
    feats_a, pids_a = blobs(0, 6, 6)
    feats_b, pids_b = blobs(1, 5, 4, offset=torch.full((16, ), 0.3))
    return interleaved(feats_a, feats_b, pids_a, pids_b)


@pytest.mark.parametrize('centre', [False, True])
def test_labels_are_cluster_dbscan_s_per_modality(pl, centre):
    clusterer = TASK_UTILS.build(
        dict(
            type='JaccardDBSCAN',
            eps=dict(visible=0.5, infrared=0.45),
            min_samples=3,
            k1=8,
            k2=3,
            centre_features=centre,
            knn_cfg=dict(chunk_size=5)))
    assert isinstance(clusterer, BaseClusterer)
    out = clusterer(pl)
    # the input is left as it was, the other fields are kept
    assert (pl.labels == -1).all() and out.features is pl.features
    for modality, eps in (('visible', 0.5), ('infrared', 0.45)):
        index = pl.indices(modality)
        feats = pl.features[index]
        if centre:
            feats = F.normalize(feats - feats.mean(0, keepdim=True), dim=1)
        want = cluster_dbscan(
            feats, eps=eps, min_samples=3, k1=8, k2=3, chunk_size=5)
        assert out.labels[index].tolist() == want.tolist()
        assert (want >= 0).sum() > 0  # a non-trivial clustering
    assert out.labels.dtype == torch.long


def test_centring_changes_the_features_it_clusters(pl, monkeypatch):
    from mmvireid.models.task_modules.clusterers import jaccard_dbscan
    seen = []
    monkeypatch.setattr(
        jaccard_dbscan, 'cluster_dbscan',
        lambda f, **kw: seen.append(f) or torch.zeros(
            len(f), dtype=torch.long).numpy())
    JaccardDBSCAN(eps=0.5, centre_features=True)(pl)
    index = pl.indices('infrared')
    centred = pl.features[index] - pl.features[index].mean(0)
    torch.testing.assert_close(seen[1], F.normalize(centred, dim=1))
    assert not torch.allclose(seen[1], pl.features[index])


def test_an_empty_modality_is_skipped(pl):
    only_visible = pl.with_fields(
        modality_ids=torch.zeros_like(pl.modality_ids))
    out = JaccardDBSCAN(eps=0.5, min_samples=3, k1=8, k2=3)(only_visible)
    want = cluster_dbscan(pl.features, eps=0.5, min_samples=3, k1=8, k2=3)
    assert out.labels.tolist() == want.tolist()


@pytest.mark.parametrize('kwargs, error', [
    (dict(eps=1.0), 'eps'),
    (dict(eps=0), 'eps'),
    (dict(eps=dict(visible=0.5, infrared=1.5)), 'eps'),
    (dict(eps=dict()), 'eps'),
    (dict(eps=0.5, min_samples=0), 'min_samples'),
    (dict(eps=0.5, k1=0), 'k1'),
    (dict(eps=0.5, k2=2.5), 'k2'),
    (dict(eps=0.5, knn_cfg=dict(chunk=3)), 'unknown knn_cfg'),
    (dict(eps=0.5, knn_cfg=dict(knn_backend='annoy')), 'knn_backend'),
])
def test_bad_arguments_fail_when_built(kwargs, error):
    with pytest.raises(ValueError, match=error):
        JaccardDBSCAN(**kwargs)


def test_per_modality_eps_must_cover_the_modalities():
    clusterer = JaccardDBSCAN(eps=dict(visible=0.5, infrared=0.4))
    clusterer.check(('visible', 'infrared'))
    clusterer.check(('infrared', 'visible'))
    with pytest.raises(
            ValueError,
            match=r"eps gives \['infrared', "
            r"'visible'\] but the dataset declares"):
        clusterer.check(('visible', 'infrared', 'augmented'))
    with pytest.raises(ValueError, match='one eps per modality'):
        clusterer.check(('visible', ))
    JaccardDBSCAN(eps=0.5).check(('a', 'b', 'c'))  # one number: any
    assert clusterer.describe('infrared') == \
        'eps=0.4, min_samples=4, k1=30'
    assert clusterer.eps_of('visible') == 0.5


def test_no_features_is_an_error(pl):
    with pytest.raises(ValueError, match='no features'):
        JaccardDBSCAN(eps=0.5)(pl.with_fields(features=None))


def test_sizes_are_checked_against_the_smallest_modality():
    clusterer = JaccardDBSCAN(eps=0.5, min_samples=4, k1=30, k2=6)
    clusterer.check_sizes(dict(visible=100, infrared=31))
    with pytest.raises(
            ValueError,
            match=r"^hook\.clusterer\.k1=30 but the training set has only 30 "
            r"'infrared' images: .*set hook\.clusterer\.k1 below 30"):
        clusterer.check_sizes(
            dict(visible=100, infrared=30), key='hook.clusterer')
    with pytest.raises(ValueError, match=r"has 0 'visible' images: "):
        clusterer.check_sizes(dict(visible=0, infrared=50))
    # k2 is capped by the ranking (k1): a k2 above the data alone is fine
    JaccardDBSCAN(eps=0.5, k1=5, k2=40).check_sizes(dict(a=20))
    with pytest.raises(ValueError, match=r'clusterer\.min_samples=20 but'):
        JaccardDBSCAN(eps=0.5, min_samples=20, k1=5).check_sizes(dict(a=20))
