import pytest
import torch

from mmvireid.models.data_preprocessors import VIReIDDataPreprocessor
from mmvireid.models.utils import pair_rows
from mmvireid.models.utils.batch_pairing import (check_two_modalities,
                                                 modality_positions)
from mmvireid.structures import VIReIDDataSample

MODALITIES = ('visible', 'infrared')


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
    pairs = pair_rows(out['data_samples'], MODALITIES)
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
    assert pair_rows(batch, MODALITIES).tolist() == [[0, 4, 2], [1, 5, 3]]


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
    assert pair_rows(batch, MODALITIES).tolist() == [[0, -1, 3], [1, 5, 4]]
    assert pair_rows(batch[:3], MODALITIES).shape == (0, 3)
    assert pair_rows([], MODALITIES).shape == (0, 3)


def test_nonsense_raises():
    with pytest.raises(ValueError, match='view 1'):
        pair_rows([sample(1, 'infrared'), sample(2, 'visible', 1)], MODALITIES)
    with pytest.raises(ValueError, match='sample_idx'):
        pair_rows([VIReIDDataSample().set_identity(0, 1, 'visible')],
                  MODALITIES)
    with pytest.raises(ValueError, match='modality'):
        pair_rows([VIReIDDataSample(metainfo=dict(sample_idx=0))], MODALITIES)
    with pytest.raises(ValueError, match='view -1'):
        pair_rows([sample(1, 'visible', -1)], MODALITIES)
    # a row of a modality the head does not know
    with pytest.raises(ValueError, match="'augmented'"):
        pair_rows([named(0, 'visible'), named(1, 'augmented')], MODALITIES)
    # not two modalities
    for bad in (('visible', ), ('visible', 'infrared', 'augmented'),
                ('visible', 'visible')):
        with pytest.raises(ValueError, match='two-modality'):
            pair_rows([], bad)
    with pytest.raises(ValueError, match='no pseudo-labels'):
        pair_rows([], None)


def named(idx, modality, view=0):
    """A sample of any modality name (no check of the name)."""
    return VIReIDDataSample(
        metainfo=dict(sample_idx=idx, modality=modality, view=view))


def test_modalities_are_data():
    # any two names; the first is the one with view-1 rows
    batch = [
        named(1, 'rgb'),
        named(2, 'thermal'),
        named(3, 'rgb'),
        named(4, 'thermal'),
        named(3, 'rgb', 1)
    ]
    assert pair_rows(batch, ('rgb', 'thermal')).tolist() == [[0, -1, 1],
                                                             [2, 4, 3]]
    # swapping the order swaps the roles: 'thermal' has no view-1 row and
    # the view-1 row of 'rgb' (now the second modality) is ignored
    assert pair_rows(batch, ('thermal', 'rgb')).tolist() == [[1, -1, 0],
                                                             [3, -1, 2]]


def test_modality_positions_and_check():
    batch = [named(0, 'b'), named(1, 'a'), named(2, 'b')]
    assert modality_positions(batch, ('a', 'b')) == [1, 0, 1]
    with pytest.raises(ValueError, match=r"row 1 has modality 'a'"):
        modality_positions(batch, ('b', 'c'), 'MyHead')
    with pytest.raises(ValueError, match="no 'modality'"):
        modality_positions([VIReIDDataSample()], ('a', 'b'))
    assert check_two_modalities(['a', 'b'], 'H') == ('a', 'b')
    with pytest.raises(ValueError, match='H is a two-modality head'):
        check_two_modalities(('a', 'b', 'c'), 'H')
