import pytest
import torch

from mmvireid.models.data_preprocessors import VIReIDDataPreprocessor
from mmvireid.models.utils import pair_rows
from mmvireid.structures import VIReIDDataSample


def sample(idx, modality, view=None):
    meta = dict(sample_idx=idx)
    if view is not None:
        meta['view'] = view
    return VIReIDDataSample(metainfo=meta).set_identity(0, 1, modality)


def test_pairs_from_the_preprocessor_layout():
    # visible 10, 11, 10 (drawn twice) with CA views, infrared 20, 21, 22
    mods = ['visible'] * 3 + ['infrared'] * 3
    idx = [10, 11, 10, 20, 21, 22]

    def img(value):
        return torch.full((3, 2, 2), value, dtype=torch.uint8)

    inputs = [[img(i), img(100 + i)] if m == 'visible' else img(i)
              for i, m in zip(idx, mods)]
    data = dict(
        inputs=inputs, data_samples=[sample(i, m) for i, m in zip(idx, mods)])
    out = VIReIDDataPreprocessor()(data)
    pairs = pair_rows(out['data_samples'])
    assert pairs.dtype == torch.long
    assert pairs.tolist() == [[0, 6, 3], [1, 7, 4], [2, 8, 5]]
    # CA rows hold the augmented views of the same visible sample
    rows = out['inputs'][pairs[:, 1], 0, 0, 0]
    assert rows.tolist() == [110., 111., 110.]


def test_duplicate_samples_matched_by_occurrence():
    batch = [
        sample(5, 'visible', 0),
        sample(5, 'visible', 0),
        sample(7, 'infrared', 0),
        sample(8, 'infrared', 0),
        sample(5, 'visible', 1),
        sample(5, 'visible', 1)
    ]
    assert pair_rows(batch).tolist() == [[0, 4, 2], [1, 5, 3]]


def test_missing_views_and_unequal_counts():
    batch = [
        sample(1, 'visible'),
        sample(2, 'visible'),
        sample(3, 'visible'),
        sample(4, 'infrared'),
        sample(5, 'infrared'),
        sample(2, 'visible', 1),
    ]
    # only sample 2 has a CA view; 3 visible vs 2 infrared: first two
    assert pair_rows(batch).tolist() == [[0, -1, 3], [1, 5, 4]]
    assert pair_rows(batch[:3]).shape == (0, 3)
    assert pair_rows([]).shape == (0, 3)


def test_nonsense_raises():
    with pytest.raises(ValueError, match='view 1'):
        pair_rows([sample(1, 'infrared'), sample(2, 'visible', 1)])
    with pytest.raises(ValueError, match='sample_idx'):
        pair_rows([VIReIDDataSample().set_identity(0, 1, 'visible')])
    with pytest.raises(ValueError, match='modality'):
        pair_rows([VIReIDDataSample(metainfo=dict(sample_idx=0))])
    with pytest.raises(ValueError, match='view -1'):
        pair_rows([sample(1, 'visible', -1)])
