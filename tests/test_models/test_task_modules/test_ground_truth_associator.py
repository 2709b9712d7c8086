"""GroundTruthAssociator: each instance joins its identity's cluster."""
import pytest
import torch

from mmvireid.models.task_modules import ClusterSet
from mmvireid.registry import TASK_UTILS
from mmvireid.utils import register_all_modules

register_all_modules()


def test_cluster_of_the_majority_identity():
    # destination clusters: 0 = ids {5, 5, 8} (majority 5), 1 = {8},
    # 2 = {9}; id 7 has no destination cluster
    dst = ClusterSet(
        torch.zeros(5, 2), torch.tensor([0, 0, 0, 1, 2]), torch.zeros(3, 2),
        torch.tensor([5, 5, 8, 8, 9]))
    src = ClusterSet(
        torch.zeros(5, 2), torch.tensor([0, 1, -1, 2, 0]), torch.zeros(3, 2),
        torch.tensor([5, 8, 9, 7, 9]))
    associator = TASK_UTILS.build(dict(type='GroundTruthAssociator'))
    out = associator(src, dst)
    # the outlier (id 9) gets none, id 7 none
    assert out.cross_labels.tolist() == [0, 1, -1, -1, 2]
    assert out.cross_labels.dtype == torch.long and out.plan is None
    # no destination cluster at all: every cross label -1
    empty = ClusterSet(
        torch.zeros(5, 2), torch.full((5, ), -1), torch.zeros(0, 2), dst.pids)
    assert (associator(src, empty).cross_labels == -1).all()
    with pytest.raises(ValueError, match='true ids'):
        associator(ClusterSet(src.features, src.labels, src.centroids), dst)
