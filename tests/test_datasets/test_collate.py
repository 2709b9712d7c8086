"""vireid_collate keeps each sample's views; the preprocessor flattens."""
import pytest
import torch
from mmengine.registry import FUNCTIONS

from mmvireid.datasets import vireid_collate
from mmvireid.models import VIReIDDataPreprocessor
from mmvireid.structures import VIReIDDataSample


def packed(idx, modality, views):
    sample = VIReIDDataSample(metainfo=dict(sample_idx=idx)).set_identity(
        idx, 1, modality)
    imgs = [torch.full((3, 4, 2), float(10 * idx + v)) for v in range(views)]
    return dict(inputs=imgs if views > 1 else imgs[0], data_samples=sample)


def test_ragged_views_survive_collation_and_flattening():
    batch = [packed(0, 'visible', 2), packed(1, 'infrared', 1),
             packed(2, 'visible', 2)]
    data = vireid_collate(batch)
    assert len(data['inputs']) == 3 and isinstance(data['inputs'][0], list)
    out = VIReIDDataPreprocessor()(data)
    # view 0 of every sample in batch order, then the second views
    assert out['inputs'][:, 0, 0, 0].tolist() == [0, 10, 20, 1, 21]
    views = [s.view for s in out['data_samples']]
    idx = [s.sample_idx for s in out['data_samples']]
    assert views == [0, 0, 0, 1, 1] and idx == [0, 1, 2, 0, 2]


def test_registered_under_the_mmvireid_scope():
    assert FUNCTIONS.get('mmvireid.vireid_collate') is vireid_collate


def test_missing_keys_are_named():
    with pytest.raises(KeyError, match=r'samples \[1\]'):
        vireid_collate([packed(0, 'visible', 1), dict(inputs=None)])
