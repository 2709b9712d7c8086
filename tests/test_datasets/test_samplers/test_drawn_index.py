"""DrawnIndex: an int index that carries its batch ids."""
import json
import pickle

import numpy as np
import pytest
import torch

from mmvireid.datasets import DrawnIndex
from mmvireid.datasets.samplers import DRAWN_ID_KEYS, drawn_ids, same_slot


def test_it_is_the_int():
    idx = DrawnIndex(7, group_id=2, pair_id=5)
    assert isinstance(idx, int) and idx == 7 and hash(idx) == hash(7)
    assert str(idx) == repr(idx) == f'{idx}' == '7' and f'{idx:03d}' == '007'
    assert idx.group_id == 2 and idx.pair_id == 5
    # arithmetic gives plain ints (no stale ids on another index)
    assert type(idx + 1) is int and type(idx % 5) is int
    assert idx + 1 == 8 and idx % 5 == 2
    assert list(range(10))[idx] == 7 and {7: 'a'}[idx] == 'a'
    array = np.array([idx, DrawnIndex(3, 0)])
    assert array.dtype.kind == 'i' and array.tolist() == [7, 3]
    assert torch.tensor([idx]).tolist() == [7]
    assert json.dumps([idx]) == '[7]'
    # the default pair id: no pair
    assert DrawnIndex(3, 1).pair_id == -1


@pytest.mark.parametrize('protocol', range(pickle.HIGHEST_PROTOCOL + 1))
def test_pickles_with_its_ids(protocol):
    idx = DrawnIndex(11, group_id=4, pair_id=9)
    back = pickle.loads(pickle.dumps([idx], protocol=protocol))[0]
    assert type(back) is DrawnIndex and back == 11
    assert (back.group_id, back.pair_id) == (4, 9)


def test_ids_of_an_index():
    assert DRAWN_ID_KEYS == ('group_id', 'pair_id')
    assert drawn_ids(DrawnIndex(1, 3, 4)) == dict(group_id=3, pair_id=4)
    assert drawn_ids(1) == {} and drawn_ids(np.int64(1)) == {}
    moved = same_slot(DrawnIndex(30, 3, 4), 2)
    assert type(moved) is DrawnIndex and moved == 2
    assert drawn_ids(moved) == dict(group_id=3, pair_id=4)
    assert type(same_slot(30, 2)) is int and same_slot(30, 2) == 2
