"""UniformMergingLoss and cluster_groups (MCF's uniform merging)."""
import pytest
import torch
import torch.nn.functional as F

from mmvireid.models.losses import cluster_groups
from mmvireid.registry import MODELS
from mmvireid.utils import register_all_modules

register_all_modules()


def test_a_cluster_s_group_is_its_most_frequent_cross_label():
    labels = torch.tensor([0, 0, 0, 1, 1, 2, -1, 3, 3])
    cross = torch.tensor([4, 4, 1, 2, 2, -1, 5, 1, 2])
    # 0: two 4s and a 1 -> 4; 1: 2; 2: only -1 -> none; 3: tie 1/2 -> 1;
    # 4: no instance -> none; the outlier's cross label is ignored
    assert cluster_groups(labels, cross, 5).tolist() == [4, 2, -1, 1, -1]
    assert cluster_groups(labels, torch.full_like(cross, -1),
                          5).tolist() == [-1] * 5


def test_positives_are_the_clusters_of_the_row_s_group():
    memory = MODELS.build(
        dict(type='ClusterMemory', feat_dim=3, temperature=0.5))
    prototypes = F.normalize(torch.randn(5, 3), dim=1)
    memory.reset(prototypes, torch.arange(5))
    groups = torch.tensor([7, 3, 7, -1, 3])  # 0 and 2 merge, 1 and 4 merge
    features = torch.randn(4, 3, requires_grad=True)
    labels = torch.tensor([0, 4, 3, -1])  # rows 2 (no group), 3 left out
    loss = MODELS.build(dict(type='UniformMergingLoss',
                             loss_weight=0.6))(features, labels, groups,
                                               memory)
    logits = F.normalize(features, dim=1) @ memory.prototypes.t() / 0.5
    p = logits.softmax(1)
    want = -(torch.log(p[0, 0] + p[0, 2]) + torch.log(p[1, 1] + p[1, 4])) / 2
    torch.testing.assert_close(loss, 0.6 * want)
    loss.backward()
    assert features.grad[:2].abs().sum() > 0
    assert not features.grad[2:].any()


def test_no_usable_row_gives_a_zero_that_keeps_the_graph():
    memory = MODELS.build(dict(type='ClusterMemory', feat_dim=3))
    memory.reset(torch.eye(3), torch.arange(3))
    features = torch.randn(2, 3, requires_grad=True)
    loss = MODELS.build(dict(type='UniformMergingLoss'))(features,
                                                         torch.tensor([0, 1]),
                                                         torch.full((3, ), -1),
                                                         memory)
    assert loss.item() == 0 and loss.requires_grad
    with pytest.raises(ValueError, match='2 cluster groups for a memory'):
        MODELS.build(dict(type='UniformMergingLoss'))(features,
                                                      torch.tensor([0, 1]),
                                                      torch.zeros(
                                                          2, dtype=torch.long),
                                                      memory)
