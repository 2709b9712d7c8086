"""VirtualModalityDataset: a transformed copy of one modality as another."""
import numpy as np
import pytest

from mmvireid.datasets import DrawnIndex, VirtualModalityDataset
from mmvireid.registry import DATASETS
from mmvireid.utils import register_all_modules

register_all_modules()

PIPELINE = [dict(type='LoadVIReIDImage'), dict(type='PackVIReIDInputs')]


def build(sysu_root, **kwargs):
    cfg = dict(
        type='VirtualModalityDataset',
        dataset=dict(
            type='SYSUMM01',
            data_root=sysu_root,
            split='train',
            check_counts=False,
            pipeline=PIPELINE),
        source='visible',
        name='augmented',
        pipeline=PIPELINE + [])
    cfg.update(kwargs)
    return DATASETS.build(cfg)


def test_virtual_samples_follow_the_real_ones(sysu_root):
    data = build(sysu_root)
    real = data.dataset
    visible = np.flatnonzero(real.get_modalities() == 'visible')
    assert len(data) == len(real) + len(visible)
    assert data.metainfo['modalities'] == ('visible', 'infrared', 'augmented')
    assert data.modalities == data.metainfo['modalities']
    first = len(real)
    info = data.get_data_info(first + 2)
    source = real.get_data_info(int(visible[2]))
    assert info['img_path'] == source['img_path']
    assert info['pid'] == source['pid']
    assert info['modality'] == 'augmented' and info['sample_idx'] == first + 2
    sample = data[first + 2]['data_samples']
    assert sample.modality == 'augmented' and sample.sample_idx == first + 2
    assert data[0]['data_samples'].modality == real[0]['data_samples'].modality
    assert data.get_modalities().tolist() == [
        data.get_data_info(i)['modality'] for i in range(len(data))
    ]
    assert (data.get_pids()[first:] == real.get_pids()[visible]).all()
    with pytest.raises(IndexError, match='out of range'):
        data.get_data_info(len(data))


def test_bad_modalities(sysu_root):
    with pytest.raises(ValueError, match="source 'thermal'"):
        build(sysu_root, source='thermal')
    with pytest.raises(ValueError, match="'infrared' is already"):
        build(sysu_root, name='infrared')


def test_drawn_indices_keep_their_ids(sysu_root):
    data = build(sysu_root)
    first = len(data.dataset)
    # a real sample, a virtual one and a negative (virtual) index
    for index in (3, first + 2, -1):
        sample = data[DrawnIndex(index, group_id=4, pair_id=7)]['data_samples']
        plain = data[index]['data_samples']
        assert (sample.group_id, sample.pair_id) == (4, 7)
        assert sample.sample_idx == plain.sample_idx
        assert sample.modality == plain.modality
        assert 'group_id' not in plain and 'pair_id' not in plain


def test_view_sources_name_each_virtual_sample_s_image(sysu_root):
    """What ViewFollowingClusterer reads (PseudoLabels.view_sources)."""
    data = build(sysu_root)
    sources = data.get_view_sources()
    first = len(data.dataset)
    assert sources.shape == (len(data), ) and (sources[:first] == -1).all()
    for idx in (first, first + 1, len(data) - 1):
        assert data.get_data_info(idx)['img_path'] == \
            data.dataset.get_data_info(int(sources[idx]))['img_path']
