import pytest
import torch
import torch.nn.functional as F

from mmvireid.registry import MODELS
from mmvireid.utils import register_all_modules

register_all_modules()


def build(**kwargs):
    cfg = dict(type='InstanceMemory', feat_dim=3, num_parts=2)
    cfg.update(kwargs)
    return MODELS.build(cfg)


def filled(memory):
    torch.manual_seed(0)
    feats = torch.randn(4, 3)
    parts = torch.randn(4, 2, 3)
    memory.reset(feats, torch.tensor([9, 2, 5, 7]), part_features=parts)
    return feats, parts


def test_reset_sorts_by_index_and_normalises():
    memory = build()
    feats, parts = filled(memory)
    order = [1, 2, 3, 0]  # indices 2, 5, 7, 9
    assert memory.indices.tolist() == [2, 5, 7, 9]
    torch.testing.assert_close(memory.features,
                               F.normalize(feats[order], dim=1))
    torch.testing.assert_close(memory.part_features,
                               F.normalize(parts[order], dim=-1))
    assert memory.has_parts and memory.num_instances == 4
    assert memory.rows(torch.tensor([7, 3, 9, 0, 11])).tolist() == \
        [2, -1, 3, -1, -1]
    memory.reset(feats)  # no parts: part entries emptied
    assert not memory.has_parts
    assert memory.indices.tolist() == [0, 1, 2, 3]


def test_static_by_default():
    memory = build()
    filled(memory)
    before = memory.features.clone()
    memory.update(
        torch.randn(2, 3), torch.tensor([2, 5]), torch.randn(2, 2, 3))
    assert torch.equal(before, memory.features)


def test_momentum_update_of_the_batch_entries():
    memory = build(momentum_update=True, momentum=0.25)
    filled(memory)
    expected = memory.features.clone()
    expected_parts = memory.part_features.clone()
    feats = torch.randn(3, 3)
    parts = torch.randn(3, 2, 3)
    index = torch.tensor([5, 4, 5])  # 4 is not stored: skipped
    before = memory.features.clone()
    for f, fp in zip(feats[[0, 2]], parts[[0, 2]]):  # row of index 5: 1
        expected[1] = F.normalize(
            0.25 * expected[1] + 0.75 * F.normalize(f, dim=0), dim=0)
        expected_parts[1] = F.normalize(
            0.25 * expected_parts[1] + 0.75 * F.normalize(fp, dim=-1), dim=-1)
    memory.update(feats, index, parts)
    torch.testing.assert_close(memory.features, expected)
    torch.testing.assert_close(memory.part_features, expected_parts)
    # entries of other images untouched
    assert torch.equal(memory.features[[0, 2, 3]], before[[0, 2, 3]])


def test_bad_input_and_checkpoint():
    memory = build()
    with pytest.raises(ValueError, match='duplicate'):
        memory.reset(torch.randn(2, 3), torch.tensor([1, 1]))
    with pytest.raises(ValueError, match='part features'):
        memory.reset(torch.randn(2, 3), part_features=torch.randn(2, 3, 3))
    filled(memory)
    fresh = build()
    fresh.load_state_dict(memory.state_dict())
    assert torch.equal(fresh.part_features, memory.part_features)
    assert torch.equal(fresh.indices, memory.indices)


def test_reset_names_a_feature_dimension_mismatch():
    memory = MODELS.build(dict(type="InstanceMemory", feat_dim=8))
    with pytest.raises(ValueError, match='feat_dim=8'):
        memory.reset(torch.randn(4, 96))
