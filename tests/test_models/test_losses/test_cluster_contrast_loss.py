import pytest
import torch
import torch.nn.functional as F

from mmvireid.registry import MODELS
from mmvireid.utils import register_all_modules

register_all_modules()


def build(**kwargs):
    return MODELS.build(dict(type='ClusterContrastLoss', **kwargs))


def test_cross_entropy_over_valid_rows_of_a_cluster_memory():
    memory = MODELS.build(
        dict(type='ClusterMemory', feat_dim=2, temperature=0.5))
    memory.reset(torch.eye(2), torch.tensor([0, 1]))
    feats = torch.tensor([[3.0, 4.0], [1.0, 0.0], [0.0, 2.0]],
                         requires_grad=True)
    # -1 (outlier) and 2 (no such cluster) are left out
    loss = build()(feats, torch.tensor([1, -1, 2]), memory)
    want = F.cross_entropy(torch.tensor([[0.6, 0.8]]) / 0.5, torch.tensor([1]))
    assert loss.item() == pytest.approx(want.item())
    loss.backward()
    assert feats.grad[1:].abs().sum() == 0
    assert feats.grad[0].abs().sum() > 0
    none = build()(feats, torch.tensor([-1, -1, 5]), memory)
    assert none.item() == 0 and none.requires_grad
    weighted = build(loss_weight=3.0)(feats, torch.tensor([1, -1, 2]), memory)
    torch.testing.assert_close(weighted, 3 * want)


def test_part_memory_mean_over_parts_of_cross_entropy():
    torch.manual_seed(1)
    memory = MODELS.build(
        dict(type='PartMemory', num_parts=2, feat_dim=3, temperature=0.5))
    memory.reset(
        F.normalize(torch.randn(6, 2, 3), dim=-1),
        torch.tensor([0, 1, 2, 0, 1, 2]))
    feats = torch.randn(4, 2, 3, requires_grad=True)
    labels = torch.tensor([2, -1, 0, 7])  # -1 and 7 (no cluster) ignored
    loss = build()(feats, labels, memory)
    expected = sum(
        F.cross_entropy(
            F.normalize(feats[[0, 2], p], dim=1) @ memory.prototypes[p].t() /
            0.5, torch.tensor([2, 0])) for p in range(2)) / 2
    torch.testing.assert_close(loss, expected)
    loss.backward()
    assert feats.grad[[1, 3]].abs().sum() == 0
    assert torch.isfinite(feats.grad).all()


def test_empty_part_memory_gives_a_zero_with_graph():
    memory = MODELS.build(dict(type='PartMemory', num_parts=2, feat_dim=3))
    feats = torch.randn(3, 2, 3, requires_grad=True)
    loss = build()(feats, torch.tensor([0, 1, -1]), memory)
    assert loss.item() == 0
    loss.backward()
    assert torch.equal(feats.grad, torch.zeros_like(feats))
