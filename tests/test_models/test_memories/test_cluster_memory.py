import pytest
import torch
import torch.nn.functional as F

from mmvireid.registry import MODELS
from mmvireid.utils import register_all_modules

register_all_modules()


def build(**kwargs):
    return MODELS.build(dict(type='ClusterMemory', feat_dim=2, **kwargs))


def test_reset_to_centroids_ignoring_outliers():
    memory = build()
    feats = torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0], [9.0, 9.0]])
    memory.reset(feats, torch.tensor([0, 1, 0, -1]))
    torch.testing.assert_close(
        memory.prototypes,
        F.normalize(torch.tensor([[2.0, 1.0], [0.0, 1.0]]), dim=1))


def test_momentum_weights_the_old_prototype_sequentially():
    memory = build(momentum=0.1)
    memory.reset(torch.tensor([[1.0, 0.0]]), torch.tensor([0]))
    f = torch.tensor([[0.0, 1.0], [0.0, 1.0]])
    memory.update(f, torch.tensor([0, 0]))
    first = F.normalize(torch.tensor([0.1, 0.9]), dim=0)
    second = F.normalize(0.1 * first + 0.9 * torch.tensor([0.0, 1.0]), dim=0)
    torch.testing.assert_close(memory.prototypes[0], second)


def test_batch_update_equals_one_sample_at_a_time():
    """The vectorised update gives what the sample-by-sample loop of
    Cluster-Contrast gives, with repeated clusters and outliers."""
    g = torch.Generator().manual_seed(0)
    feats = torch.randn(40, 8, generator=g)
    labels = torch.randint(-1, 5, (40, ), generator=g)
    memory = MODELS.build(dict(type='ClusterMemory', feat_dim=8))
    memory.reset(torch.randn(20, 8, generator=g), torch.arange(20) % 5)
    expected = memory.prototypes.clone()
    for feat, label in zip(F.normalize(feats, dim=1), labels.tolist()):
        if label >= 0:
            proto = 0.1 * expected[label] + 0.9 * feat
            expected[label] = proto / proto.norm()
    memory.update(feats, labels)
    torch.testing.assert_close(memory.prototypes, expected)


def test_state_dict_round_trip_of_any_size():
    memory = build()
    memory.reset(torch.randn(10, 2), torch.arange(10) % 3)
    fresh = build()
    fresh.load_state_dict(memory.state_dict())
    assert torch.equal(fresh.prototypes, memory.prototypes)
    assert fresh.num_clusters == 3
