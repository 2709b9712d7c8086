import os.path as osp

import pytest

from mmvireid.datasets import RegDB
from mmvireid.utils import register_all_modules

register_all_modules()


def test_train_split(regdb_root):
    dataset = RegDB(regdb_root, split='train', trial=1)
    assert len(dataset) == 2 * 2 * 2
    modalities = dataset.get_modalities()
    assert list(modalities).count('infrared') == 4
    assert set(dataset.get_pids()) == {0, 1}
    infos = [dataset.get_data_info(i) for i in range(len(dataset))]
    assert {i['camid'] for i in infos if i['modality'] == 'visible'} == {1}
    assert {i['camid'] for i in infos if i['modality'] == 'infrared'} == {2}


@pytest.mark.parametrize('direction,query_modality', [('v2t', 'visible'),
                                                      ('t2v', 'infrared')])
def test_test_split(regdb_root, direction, query_modality):
    dataset = RegDB(regdb_root, split='test', trial=2, direction=direction)
    meta = dataset.metainfo
    assert meta['protocol'] == 'regdb'
    assert meta['eval_prefix'] == f'regdb-{direction}'
    assert meta['query_indices'] == [0, 1, 2, 3]
    assert meta['gallery_trials'] == [[4, 5, 6, 7]]
    assert dataset.get_data_info(0)['modality'] == query_modality
    assert dataset.get_data_info(4)['modality'] != query_modality
    assert set(dataset.get_pids()) == {2, 3}


def test_bad_trial_and_direction(regdb_root):
    with pytest.raises(ValueError, match='1..10'):
        RegDB(regdb_root, trial=0)
    with pytest.raises(ValueError, match='sideways'):
        RegDB(regdb_root, direction='sideways')


def test_missing_index_file(regdb_root):
    with pytest.raises(FileNotFoundError, match='train_visible_3.txt'):
        RegDB(regdb_root, split='train', trial=3)


def test_malformed_index_line(regdb_root):
    path = osp.join(regdb_root, 'idx', 'test_thermal_1.txt')
    with open(path, 'a') as f:
        f.write('Thermal/9/x.bmp nine\n')
    with pytest.raises(ValueError, match=r'test_thermal_1.txt:5'):
        RegDB(regdb_root, split='test', trial=1)


def test_missing_image(regdb_root):
    path = osp.join(regdb_root, 'idx', 'train_visible_1.txt')
    with open(path, 'a') as f:
        f.write('Visible/1/gone.bmp 0\n')
    with pytest.raises(FileNotFoundError, match='gone.bmp'):
        RegDB(regdb_root, split='train', trial=1)


def test_missing_root(tmp_path):
    with pytest.raises(FileNotFoundError, match='RegDB root'):
        RegDB(str(tmp_path / 'none'))
