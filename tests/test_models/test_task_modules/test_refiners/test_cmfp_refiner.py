"""CMFPRefiner: SALCR's train-time CMFP, as AssociationHook ran it inline."""
import pytest
import torch
import torch.nn.functional as F

from mmvireid.evaluation.functional import cross_modality_propagation
from mmvireid.models.task_modules import BaseRefiner, CMFPRefiner
from mmvireid.models.utils import cluster_centroids, reassign_to_centroids
from mmvireid.registry import TASK_UTILS
from mmvireid.structures import PseudoLabels
from mmvireid.utils import register_all_modules

register_all_modules()


def pseudo_labels(seed=0, num=40):
    gen = torch.Generator().manual_seed(seed)
    ids = (torch.rand(num, generator=gen) < 0.4).long()
    feats = F.normalize(torch.randn(num, 8, generator=gen), dim=1)
    labels = torch.randint(0, 4, (num, ), generator=gen)
    labels[torch.rand(num, generator=gen) < 0.2] = -1
    return PseudoLabels(
        modalities=('visible', 'infrared'),
        modality_ids=ids,
        labels=labels,
        features=feats)


def hand_cmfp(pl, k):
    """The arithmetic of the old inline CMFP(tr), step by step."""
    v, r = pl.indices('visible'), pl.indices('infrared')
    feats_v, feats_r = cross_modality_propagation(
        pl.features[v], pl.features[r], k=k)
    labels = pl.labels.clone()
    for index, feats in ((v, feats_v), (r, feats_r)):
        own = labels[index]
        kept = own >= 0
        if kept.any():
            own[kept] = reassign_to_centroids(feats[kept],
                                              cluster_centroids(feats, own))
            labels[index] = own
    return feats_v, feats_r, labels


@pytest.mark.parametrize('k', [1, 3, 10])
def test_equals_the_inline_arithmetic_it_replaces(k):
    pl = pseudo_labels()
    refiner = TASK_UTILS.build(dict(type='CMFPRefiner', k=k))
    assert isinstance(refiner, BaseRefiner)
    out = refiner(pl)
    feats_v, feats_r, labels = hand_cmfp(pl, k)
    v, r = pl.indices('visible'), pl.indices('infrared')
    assert torch.equal(out.features[v], feats_v)
    assert torch.equal(out.features[r], feats_r)
    assert torch.equal(out.labels, labels)
    # outliers stay outliers; some instance moved; the input is unchanged
    assert torch.equal(out.labels < 0, pl.labels < 0)
    assert not torch.equal(out.labels, pl.labels)
    assert not torch.equal(out.features, pl.features)
    assert torch.equal(pl.labels, pseudo_labels().labels)


def test_a_modality_without_samples_changes_nothing():
    pl = pseudo_labels()
    alone = pl.with_fields(modality_ids=torch.zeros_like(pl.modality_ids))
    assert CMFPRefiner(k=3)(alone) is alone


def test_only_outliers_in_a_modality_keeps_them():
    pl = pseudo_labels()
    labels = pl.labels.clone()
    labels[pl.mask('infrared')] = -1
    out = CMFPRefiner(k=3)(pl.with_fields(labels=labels))
    assert (out.labels[pl.mask('infrared')] == -1).all()
    _, _, want = hand_cmfp(pl.with_fields(labels=labels), 3)
    assert torch.equal(out.labels, want)


def test_checks():
    for k in (0, 2.5, None):
        with pytest.raises(ValueError, match='k must be'):
            CMFPRefiner(k=k)
    CMFPRefiner(k=3).check(('visible', 'infrared'))
    with pytest.raises(ValueError, match='exactly two modalities'):
        CMFPRefiner(k=3).check(('visible', 'infrared', 'augmented'))
