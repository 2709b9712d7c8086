"""ViewFollowingClusterer: views take the clusters of their source images."""
import pytest
import torch

from mmvireid.registry import TASK_UTILS
from mmvireid.structures import PseudoLabels
from mmvireid.utils import register_all_modules

register_all_modules()

MODALITIES = ('visible', 'infrared', 'augmented')


def trimodal(view_sources=True) -> PseudoLabels:
    # visible 0..3 (ids 5, 5, 8, 9), infrared 4..6 (ids 8, 5, 8),
    # augmented 7..10 are views of visible 2, 0, 3, 1
    ids = torch.tensor([0, 0, 0, 0, 1, 1, 1, 2, 2, 2, 2])
    pids = torch.tensor([5, 5, 8, 9, 8, 5, 8, 8, 5, 9, 5])
    sources = torch.tensor([-1] * 7 + [2, 0, 3, 1])
    return PseudoLabels(
        modalities=MODALITIES,
        modality_ids=ids,
        labels=torch.full((11, ), -1),
        features=torch.nn.functional.normalize(torch.randn(11, 4), dim=1),
        pids=pids,
        view_sources=sources if view_sources else None)


def build(**kwargs):
    cfg = dict(
        type='ViewFollowingClusterer',
        clusterer=dict(type='GroundTruthClusterer'),
        follow=('augmented', ))
    cfg.update(kwargs)
    return TASK_UTILS.build(cfg)


def test_views_take_their_source_s_cluster():
    out = build()(trimodal())
    # visible ids 5, 5, 8, 9 -> 0, 0, 1, 2; infrared 8, 5, 8 -> 1, 0, 1
    assert out.labels[:7].tolist() == [0, 0, 1, 2, 1, 0, 1]
    # the views of visible 2, 0, 3, 1 take those images' clusters
    assert out.labels[7:].tolist() == [1, 0, 2, 0]
    assert out.num_clusters('augmented') == out.num_clusters('visible')


def test_the_inner_clusterer_never_sees_the_views():
    seen = {}

    class Spy:

        def __call__(self, pl):
            seen['modalities'] = pl.modalities
            seen['rows'] = len(pl.labels)
            seen['ids'] = pl.modality_ids.tolist()
            return pl.with_fields(labels=torch.arange(len(pl.labels)))

    clusterer = build()
    clusterer.clusterer = Spy()
    out = clusterer(trimodal())
    assert seen == dict(
        modalities=('visible', 'infrared'), rows=7, ids=[0, 0, 0, 0, 1, 1, 1])
    assert out.labels.tolist() == list(range(7)) + [2, 0, 3, 1]


def test_a_view_of_an_outlier_is_an_outlier():
    clusterer = build()

    class OneOutlier:

        def __call__(self, pl):
            return pl.with_fields(labels=torch.tensor([0, -1, 1, 1, 0, 0, 1]))

    clusterer.clusterer = OneOutlier()
    out = clusterer(trimodal())
    assert out.labels[7:].tolist() == [1, 0, 1, -1]  # 10 views outlier 1


def test_checks_name_what_is_wrong():
    with pytest.raises(ValueError, match="names \\['thermal'\\]"):
        build(follow=('thermal', )).check(MODALITIES)
    with pytest.raises(ValueError, match='none is clustered'):
        build(follow=MODALITIES).check(MODALITIES)
    with pytest.raises(ValueError, match='no view sources'):
        build()(trimodal(view_sources=False))
    broken = trimodal()
    broken.view_sources[8] = 9  # a view of a view
    with pytest.raises(ValueError, match='needs a source image'):
        build()(broken)
    # the inner checks run on the clustered modalities only
    jaccard = build(
        clusterer=dict(
            type='JaccardDBSCAN', eps=dict(visible=0.5, infrared=0.6)))
    jaccard.check(MODALITIES)
    with pytest.raises(ValueError, match=r'clusterer\.clusterer\.k1=20'):
        build(
            clusterer=dict(type='JaccardDBSCAN', eps=0.6, k1=20)).check_sizes(
                dict(visible=30, infrared=10, augmented=1),
                'custom_hooks.clustering.clusterer')
    assert 'follow' in build().describe('augmented')
