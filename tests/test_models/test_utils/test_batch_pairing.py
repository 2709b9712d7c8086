import numpy as np
import pytest
import torch

from mmvireid.datasets import drawn_ids, vireid_collate
from mmvireid.models.data_preprocessors import VIReIDDataPreprocessor
from mmvireid.models.utils import pair_rows
from mmvireid.models.utils.batch_pairing import (check_two_modalities,
                                                 modality_positions)
from mmvireid.registry import DATA_SAMPLERS, TRANSFORMS
from mmvireid.structures import VIReIDDataSample
from mmvireid.structures.pseudo_labels import PseudoLabels, pair_key
from mmvireid.utils import register_all_modules

register_all_modules()

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


def with_ids(idx, modality, view, pair_id, group_id=0):
    out = sample(idx, modality, view)
    out.set_metainfo(dict(pair_id=pair_id, group_id=group_id))
    return out


class ToyTrainSet:
    """What the sampler reads: 0..11 visible, 12..19 infrared."""
    metainfo = dict(modalities=MODALITIES)

    def __len__(self):
        return 20


def paired_sampler(num_instances):
    infrared = np.array([False] * 12 + [True] * 8)
    # cluster sizes 3, 3, 2, 3 (visible) and 2, 3, 2 (infrared); the cross
    # labels join 2 or 3 images of the other modality to each
    labels = np.array(
        [0, 0, 0, 1, 1, 1, 2, 2, -1, 3, 3, 3, 0, 0, 1, 1, 1, -1, 2, 2])
    cross = np.array(
        [1, 1, 1, 0, 0, -1, 2, 2, -1, -1, -1, -1, 1, 1, 0, 0, 0, -1, 2, 2])
    sampler = DATA_SAMPLERS.build(
        dict(
            type='CrossModalClusterSampler',
            dataset=ToyTrainSet(),
            num_clusters=4,
            num_instances=num_instances,
            iters_per_epoch=4,
            mode='paired',
            seed=0))
    sampler.set_pseudo_labels(
        PseudoLabels(
            modalities=MODALITIES,
            modality_ids=torch.from_numpy(infrared.astype(np.int64)),
            labels=torch.from_numpy(labels),
            cross_labels={
                pair_key('visible', 'infrared'):
                torch.from_numpy(np.where(~infrared, cross, -1)),
                pair_key('infrared', 'visible'):
                torch.from_numpy(np.where(infrared, cross, -1)),
            }))
    return sampler


def packed_batches(sampler):
    """The sampler's batches as PackVIReIDInputs packs them (visible
    images with a channel-augmented view), collated."""
    pack = TRANSFORMS.build(dict(type='PackVIReIDInputs'))
    draws = list(sampler)
    size = sampler.batch_size
    for start in range(0, len(draws), size):
        batch = []
        for index in draws[start:start + size]:
            img = np.full((2, 2, 3), int(index), np.uint8)
            visible = int(index) < 12
            batch.append(
                pack(
                    dict(
                        img=[img, img + 100] if visible else img,
                        pid=0,
                        camid=1,
                        modality=MODALITIES[int(not visible)],
                        sample_idx=int(index),
                        **drawn_ids(index))))
        yield vireid_collate(batch)


def strip_ids(rows):
    out = []
    for row in rows:
        row = row.clone()
        del row.pair_id
        del row.group_id
        out.append(row)
    return out


@pytest.mark.parametrize('num_instances', [2, 3, 4])
def test_ids_give_the_positional_pairs_of_sampler_batches(num_instances):
    # K=3, 4: clusters of 2 draw images twice (with replacement)
    sampler = paired_sampler(num_instances)
    size = sampler.batch_size
    half = size // 2
    repeated = 0
    for data in packed_batches(sampler):
        out = VIReIDDataPreprocessor()(data)
        rows = out['data_samples']
        by_id = pair_rows(rows, MODALITIES)
        positional = pair_rows(strip_ids(rows), MODALITIES)
        assert by_id.dtype == torch.long
        assert torch.equal(by_id, positional)
        # the layout: visible half, infrared half, then the CA views
        assert by_id.tolist() == [[j, size + j, half + j] for j in range(half)]
        pixels = out['inputs'][by_id, 0, 0, 0]
        assert torch.equal(pixels[:, 1], pixels[:, 0] + 100)
        repeated += half - len({int(r.sample_idx) for r in rows[:half]})
    if num_instances > 2:
        assert repeated > 0


def test_pairs_in_pair_id_order_whatever_the_row_order():
    batch = [
        with_ids(20, 'infrared', 0, 1),
        with_ids(5, 'visible', 0, 1),
        with_ids(6, 'visible', 0, 0),
        with_ids(21, 'infrared', 0, 0),
        with_ids(6, 'visible', 1, 0),
        with_ids(6, 'visible', 0, 2),  # drawn twice, no CA view
        with_ids(22, 'infrared', 0, 2),
        with_ids(5, 'visible', 1, 1),
    ]
    assert pair_rows(batch, MODALITIES).tolist() == [[2, 4, 3], [1, 7, 0],
                                                     [5, -1, 6]]


def test_rows_without_a_pair():
    # an 'intra' batch: pair id -1 everywhere, no pairs (not positional)
    intra = [
        with_ids(1, 'visible', 0, -1, 0),
        with_ids(2, 'visible', 0, -1, 0),
        with_ids(3, 'infrared', 0, -1, 1)
    ]
    assert pair_rows(intra, MODALITIES).shape == (0, 3)
    batch = [
        with_ids(1, 'visible', 0, 0),
        with_ids(2, 'infrared', 0, 0),
        with_ids(3, 'visible', 0, 1),  # no infrared member
        with_ids(4, 'infrared', 0, 2),  # no visible member
        sample(5, 'visible', 0),  # no ids (e.g. a refetched sample)
        sample(6, 'infrared', 0),
        with_ids(2, 'infrared', 1, 0),  # other views of the second: ignored
        with_ids(1, 'visible', 2, 0),  # views beyond 1: ignored
    ]
    assert pair_rows(batch, MODALITIES).tolist() == [[0, -1, 1]]


def test_inconsistent_ids_raise():

    def check(batch, match):
        with pytest.raises(ValueError, match=match):
            pair_rows(batch, MODALITIES)

    check([with_ids(1, 'visible', 0, 3),
           with_ids(2, 'visible', 0, 3)],
          r"rows 0 and 1 are both view-0 'visible' rows of pair_id 3")
    check([with_ids(1, 'infrared', 0, 3),
           with_ids(2, 'infrared', 0, 3)],
          r"rows 0 and 1 are both view-0 'infrared' rows of pair_id 3")
    check([
        with_ids(1, 'visible', 0, 3),
        with_ids(1, 'visible', 1, 3),
        with_ids(1, 'visible', 1, 3)
    ], r"rows 1 and 2 are both view-1 'visible' rows of pair_id 3")
    check([with_ids(1, 'infrared', 0, 4),
           with_ids(1, 'visible', 1, 4)],
          r'row 1 is a channel-augmented \(view 1\) .* pair_id 4, which has '
          'no plain')
    check([with_ids(1, 'visible', 0, 4),
           with_ids(2, 'visible', 1, 4)],
          'rows 0 and 1 of pair_id 4 have sample_idx 1 and 2')
    check([with_ids(1, 'visible', 0, 0, 0),
           with_ids(2, 'infrared', 0, 0, 1)],
          'rows 0 and 1 of pair_id 0 have group_id 0 and 1')
    check([with_ids(1, 'visible', 0, -2)], 'row 0 has pair_id -2')
