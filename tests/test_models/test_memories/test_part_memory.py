import torch
import torch.nn.functional as F

from mmvireid.models.utils import momentum_update_, occurrence_rank
from mmvireid.registry import MODELS
from mmvireid.utils import register_all_modules

register_all_modules()


def build(**kwargs):
    cfg = dict(type='PartMemory', num_parts=2, feat_dim=3)
    cfg.update(kwargs)
    return MODELS.build(cfg)


def test_reset_to_part_centroids():
    torch.manual_seed(0)
    feats = F.normalize(torch.randn(5, 2, 3), dim=-1)
    labels = torch.tensor([1, 0, 1, -1, 0])
    memory = build()
    memory.reset(feats, labels)
    assert memory.prototypes.shape == (2, 2, 3)
    for p in range(2):
        for k in range(2):
            expected = F.normalize(feats[labels == k, p].mean(0), dim=0)
            torch.testing.assert_close(memory.prototypes[p, k], expected)
    memory.reset(feats, torch.full((5, ), -1))
    assert memory.num_clusters == 0


def test_update_matches_the_sequential_rule():
    torch.manual_seed(2)
    memory = build(momentum=0.3)
    memory.reset(
        F.normalize(torch.randn(3, 2, 3), dim=-1), torch.tensor([0, 1, 2]))
    expected = memory.prototypes.clone()
    feats = torch.randn(6, 2, 3)
    labels = torch.tensor([1, 1, 0, -1, 1, 2])
    for f, y in zip(F.normalize(feats, dim=-1), labels.tolist()):
        if y < 0:
            continue
        proto = 0.3 * expected[:, y] + 0.7 * f  # momentum on the OLD one
        expected[:, y] = F.normalize(proto, dim=-1)
    memory.update(feats, labels)
    torch.testing.assert_close(memory.prototypes, expected)


def test_occurrence_rank_and_generic_update_dim():
    assert occurrence_rank(torch.tensor([3, 1, 3, 3, 1])).tolist() == \
        [0, 0, 1, 2, 1]
    assert occurrence_rank(torch.zeros(0, dtype=torch.long)).numel() == 0
    bank = F.normalize(torch.ones(2, 3), dim=1)
    momentum_update_(bank, torch.tensor([1]), torch.tensor([[0., 0., 2.]]),
                     0.0)
    torch.testing.assert_close(bank[1], torch.tensor([0., 0., 1.]))


def test_state_of_another_size_loads():
    torch.manual_seed(3)
    memory = build()
    memory.reset(torch.randn(4, 2, 3), torch.tensor([0, 1, 2, 3]))
    fresh = build()
    fresh.load_state_dict(memory.state_dict())
    assert torch.equal(fresh.prototypes, memory.prototypes)
