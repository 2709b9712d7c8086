import numpy as np
import pytest

from mmvireid.registry import DATA_SAMPLERS
from mmvireid.utils import register_all_modules

register_all_modules()


def toy_labels():
    # 0..11 visible, 12..19 infrared
    infrared = np.array([False] * 12 + [True] * 8)
    labels = np.array([0, 0, 0, 1, 1, 1, 2, 2, -1, 3, 3, 3,
                       0, 0, 1, 1, 1, -1, 2, 2])
    # cross labels: visible -> IR cluster, IR -> visible cluster
    cross = np.array([1, 1, 1, 0, 0, -1, 2, 2, -1, -1, -1, -1,
                      1, 1, 0, 0, 0, -1, 2, 2])
    return infrared, labels, cross


def build(**kwargs):
    cfg = dict(type='CrossModalClusterSampler', dataset=list(range(20)),
               num_clusters=2, num_instances=3, iters_per_epoch=5, seed=0)
    cfg.update(kwargs)
    return DATA_SAMPLERS.build(cfg)


def test_intra_batches():
    sampler = build()
    infrared, labels, _ = toy_labels()
    sampler.set_labels(infrared, labels)
    indices = np.array(list(sampler))
    assert len(indices) == len(sampler) == 5 * 12
    for batch in indices.reshape(5, 12):
        vis, ir = batch[:6], batch[6:]
        assert not infrared[vis].any() and infrared[ir].all()
        for block in (vis[:3], vis[3:], ir[:3], ir[3:]):
            assert len(set(labels[block])) == 1 and labels[block[0]] >= 0


def test_paired_positions_share_a_pseudo_identity():
    sampler = build(mode='paired')
    infrared, labels, cross = toy_labels()
    sampler.set_labels(infrared, labels, cross)
    for batch in np.array(list(sampler)).reshape(5, 12):
        vis, ir = batch[:6], batch[6:]
        assert not infrared[vis].any() and infrared[ir].all()
        # first half: anchored in a visible cluster c: IR images joined c
        assert len(set(labels[vis[:3]])) == 1
        assert set(cross[ir[:3]]) == set(labels[vis[:3]])
        # second half: anchored in an IR cluster c': visible images joined c'
        assert len(set(labels[ir[3:]])) == 1
        assert set(cross[vis[3:]]) == set(labels[ir[3:]])


def test_epochs_and_ranks_draw_differently():
    sampler = build()
    sampler.set_labels(*toy_labels()[:2])
    first = list(sampler)
    assert first == list(sampler)
    sampler.set_epoch(1)
    assert first != list(sampler)
    other_rank = build()
    other_rank.rank = 1
    other_rank.set_labels(*toy_labels()[:2])
    assert first != list(other_rank)


def test_errors():
    sampler = build()
    with pytest.raises(RuntimeError, match='set_labels'):
        list(sampler)
    infrared, labels, cross = toy_labels()
    with pytest.raises(ValueError, match='no cluster found in the infrared'):
        sampler.set_labels(infrared, np.where(infrared, -1, labels))
    with pytest.raises(ValueError, match='cross_labels'):
        build(mode='paired').set_labels(infrared, labels)
    with pytest.raises(ValueError, match='20 samples'):
        sampler.set_labels(infrared[:5], labels[:5])
    paired = build(mode='paired')
    paired.set_labels(infrared, labels, np.full(20, -1))
    with pytest.raises(ValueError, match='association found nothing'):
        list(paired)
    with pytest.raises(ValueError, match='even'):
        build(mode='paired', num_clusters=3)
