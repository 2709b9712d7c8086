"""The OT associator: SALCR's instance-to-centroid association."""
import pytest
import torch
import torch.nn.functional as F

from mmvireid.models.task_modules import ClusterSet, OTAssociator
from mmvireid.models.utils import (cluster_centroids, dual_association,
                                   sinkhorn_association)
from mmvireid.registry import TASK_UTILS
from mmvireid.utils import register_all_modules

register_all_modules()


def clusters(seed, num, k, outliers=()):
    gen = torch.Generator().manual_seed(seed)
    feats = F.normalize(torch.randn(num, 8, generator=gen), dim=1)
    labels = torch.arange(num) % k
    labels[list(outliers)] = -1
    return ClusterSet(feats, labels, cluster_centroids(feats, labels))


@pytest.mark.parametrize('reference_stop', [False, True])
def test_equals_the_dual_association_it_replaces(reference_stop):
    v, r = clusters(0, 20, 4, outliers=(3, 7)), clusters(1, 12, 3, (0, ))
    associator = TASK_UTILS.build(
        dict(type='OTAssociator', reference_stop=reference_stop))
    cross_r, cross_v = dual_association(
        v.features,
        v.labels,
        r.features,
        r.labels,
        v.centroids,
        r.centroids,
        reference_stop=reference_stop)
    r_to_v, v_to_r = associator(r, v), associator(v, r)
    assert torch.equal(r_to_v.cross_labels, cross_r)
    assert torch.equal(v_to_r.cross_labels, cross_v)
    # outliers get none; the plan's rows are the kept instances
    assert (v_to_r.cross_labels[[3, 7]] == -1).all()
    assert v_to_r.plan.shape == (18, 3)
    assert torch.equal(
        v_to_r.plan.argmax(1), v_to_r.cross_labels[v.labels >= 0])
    torch.testing.assert_close(v_to_r.plan.sum(),
                               torch.tensor(1., dtype=torch.float64))


def test_no_cluster_on_either_side():
    v = clusters(0, 6, 2)
    empty = ClusterSet(v.features[:0], v.labels[:0], v.centroids[:0])
    out = OTAssociator()(v, empty)
    assert (out.cross_labels == -1).all() and out.plan is None
    assert OTAssociator()(empty, v).cross_labels.shape == (0, )
    assert sinkhorn_association(v.features[:0], v.centroids).shape == (0, )


def test_bad_lambda():
    with pytest.raises(ValueError, match='lambda_ot'):
        OTAssociator(lambda_ot=0)
