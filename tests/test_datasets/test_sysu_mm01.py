import os.path as osp

import pytest

from mmvireid.datasets import SYSUMM01, process_gallery_sysu
from mmvireid.registry import DATASETS
from mmvireid.utils import register_all_modules

register_all_modules()


def test_train_split(sysu_root):
    with pytest.warns(UserWarning, match='official SYSU-MM01 has 395'):
        dataset = DATASETS.build(
            dict(type='SYSUMM01', data_root=sysu_root, split='train'))
    assert len(dataset) == 4 * 6 * 3
    info = dataset.get_data_info(0)
    assert info['role'] == 'train' and info['modality'] == 'visible'
    modalities = dataset.get_modalities()
    assert (modalities == 'infrared').sum() == 4 * 2 * 3
    cams = {dataset.get_data_info(i)['camid'] for i in range(len(dataset))
            if modalities[i] == 'infrared'}
    assert cams == {3, 6}
    assert set(dataset.get_pids()) == {1, 2, 3, 4}
    assert not dataset.test_mode


def test_count_check_can_be_silenced(sysu_root, recwarn):
    SYSUMM01(sysu_root, split='train', check_counts=False)
    assert not [w for w in recwarn if 'official' in str(w.message)]


def test_test_split_layout(sysu_root):
    with pytest.warns(UserWarning, match='query set has 15'):
        dataset = SYSUMM01(sysu_root, split='test', trials=[0, 1, 2])
    meta = dataset.metainfo
    assert meta['protocol'] == 'sysu' and meta['eval_prefix'] == 'sysu-all'
    assert meta['query_indices'] == list(range(15))
    assert len(meta['gallery_trials']) == 3
    for trial, indices in zip([0, 1, 2], meta['gallery_trials']):
        expected = process_gallery_sysu(sysu_root, 'all', trial)[0]
        got = [dataset.get_data_info(i)['img_path'] for i in indices]
        assert got == expected
        assert all(dataset.get_data_info(i)['role'] == 'gallery'
                   for i in indices)
    # every image once: a path drawn in two trials is stored once
    paths = [dataset.get_data_info(i)['img_path'] for i in range(len(dataset))]
    assert len(paths) == len(set(paths))
    assert dataset.test_mode


def test_indoor_and_single_sides(sysu_root):
    dataset = SYSUMM01(
        sysu_root, split='test', mode='indoor', check_counts=False)
    assert dataset.metainfo['eval_prefix'] == 'sysu-indoor'
    cams = {dataset.get_data_info(i)['camid']
            for t in dataset.metainfo['gallery_trials'] for i in t}
    assert cams == {1, 2}
    query = SYSUMM01(sysu_root, split='query', check_counts=False)
    assert len(query) == 15
    gallery = SYSUMM01(sysu_root, split='gallery', trial=4)
    assert [gallery.get_data_info(i)['img_path'] for i in range(len(gallery))
            ] == process_gallery_sysu(sysu_root, 'all', 4)[0]


def test_pipeline_loads_and_packs(sysu_root):
    dataset = SYSUMM01(
        sysu_root,
        split='test',
        trials=[0],
        check_counts=False,
        pipeline=[
            dict(type='LoadVIReIDImage'),
            dict(type='mmcv.Resize', scale=(4, 8), keep_ratio=False),
            dict(type='PackVIReIDInputs')
        ])
    item = dataset[0]
    assert tuple(item['inputs'].shape) == (3, 8, 4)
    sample = item['data_samples']
    assert sample.pid == 5 and sample.camid == 3
    assert sample.modality == 'infrared' and sample.role == 'query'
    assert sample.sample_idx == 0


def test_corrupt_image_names_the_file(sysu_root):
    bad = osp.join(sysu_root, 'cam3', '0005', '0001.jpg')
    with open(bad, 'wb') as f:
        f.write(b'not a jpeg at all')
    dataset = SYSUMM01(
        sysu_root,
        split='query',
        check_counts=False,
        pipeline=[dict(type='LoadVIReIDImage'),
                  dict(type='PackVIReIDInputs')])
    with pytest.raises(IOError, match='cam3/0005/0001.jpg.*corrupt'):
        dataset[0]


def test_bad_split_name(sysu_root):
    with pytest.raises(ValueError, match="'val'"):
        SYSUMM01(sysu_root, split='val')


def test_missing_root_names_path(tmp_path):
    with pytest.raises(FileNotFoundError, match='no_sysu'):
        SYSUMM01(str(tmp_path / 'no_sysu'), split='train')
