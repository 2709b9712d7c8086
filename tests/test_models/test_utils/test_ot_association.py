import numpy as np
import pytest
import torch
import torch.nn.functional as F

from mmvireid.models.utils import (association_accuracy, association_chance,
                                   cluster_centroids, dual_association,
                                   majority_identity, reassign_to_centroids,
                                   sinkhorn_association)


def dense_sinkhorn(cost, lam, iters=2000):
    kernel = torch.exp(-lam * cost)
    a = torch.full((cost.size(0), ), 1 / cost.size(0), dtype=cost.dtype)
    b = torch.full((cost.size(1), ), 1 / cost.size(1), dtype=cost.dtype)
    v = torch.ones_like(b)
    for _ in range(iters):
        u = a / (kernel @ v)
        v = b / (kernel.t() @ u)
    return torch.diag(u) @ kernel @ torch.diag(v)


def test_uniform_marginal_changes_the_argmax():
    # three instances all nearest to prototype 0; OT spreads them because
    # every prototype must receive a third of the mass
    protos = torch.tensor([[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0]])
    feats = torch.tensor([[1.0, 0.0], [0.8, 0.6], [0.6, -0.8]])
    nearest = torch.cdist(feats, protos).argmin(1)
    assert nearest.tolist() == [0, 0, 0]
    labels = sinkhorn_association(feats, protos, lambda_ot=5.0)
    assert sorted(labels.tolist()) == [0, 1, 2]
    assert labels[0] == 0 and labels[1] == 1


def test_matches_dense_reference_plan():
    g = torch.Generator().manual_seed(0)
    feats = F.normalize(torch.randn(40, 8, generator=g), dim=1)
    protos = F.normalize(torch.randn(6, 8, generator=g), dim=1)
    plan = dense_sinkhorn(torch.cdist(feats.double(), protos.double())**2, 5)
    assert torch.equal(sinkhorn_association(feats, protos), plan.argmax(1))
    ref_stop = sinkhorn_association(feats, protos, reference_stop=True)
    assert (ref_stop == plan.argmax(1)).float().mean() > 0.8


def test_float32_input_is_solved_in_float64_quickly():
    g = torch.Generator().manual_seed(1)
    feats = torch.randn(300, 16, generator=g).float()
    protos = torch.randn(20, 16, generator=g).float()
    labels = sinkhorn_association(feats, protos, num_iters=100000)
    assert labels.dtype == torch.long and labels.shape == (300, )


def test_dual_association_handles_outliers_and_empty_modality():
    feats_v = F.normalize(torch.randn(6, 4), dim=1)
    feats_r = F.normalize(torch.randn(5, 4), dim=1)
    labels_v = torch.tensor([0, 0, 1, 1, -1, 2])
    labels_r = torch.tensor([0, 1, -1, 1, 0])
    c_v = cluster_centroids(feats_v, labels_v)
    c_r = cluster_centroids(feats_r, labels_r)
    cross_r, cross_v = dual_association(feats_v, labels_v, feats_r, labels_r,
                                        c_v, c_r)
    assert cross_r[2] == -1 and cross_v[4] == -1
    assert (cross_r[labels_r >= 0] >= 0).all() and (cross_r < 3).all()
    assert (cross_v[labels_v >= 0] < 2).all()
    none_r = torch.full((5, ), -1)
    cross_r, cross_v = dual_association(feats_v, labels_v, feats_r,
                                        none_r, c_v,
                                        cluster_centroids(feats_r, none_r))
    assert (cross_r == -1).all() and (cross_v == -1).all()


def test_centroids_and_reassignment():
    feats = torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0], [5.0, 0.0]])
    cents = cluster_centroids(feats, torch.tensor([0, 1, 0, -1]))
    torch.testing.assert_close(cents[0],
                               F.normalize(torch.tensor([2.0, 1.0]), dim=0))
    assert reassign_to_centroids(feats, cents).tolist() == [0, 1, 0, 0]


def test_accuracy_and_chance_by_hand():
    other_labels = np.array([0, 0, 1, 1, 1, 2, -1])
    other_pids = np.array([7, 7, 8, 8, 9, 9, 7])
    assert majority_identity(other_labels, other_pids).tolist() == [7, 8, 9]
    cross = np.array([0, 1, 2, -1])
    own = np.array([7, 9, 9, 8])
    assert association_accuracy(cross, own, other_labels,
                                other_pids) == pytest.approx(2 / 3)
    # each own pid matches one of the three clusters
    assert association_chance(other_labels, other_pids,
                              own) == pytest.approx(1 / 3)
