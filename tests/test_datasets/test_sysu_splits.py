import os
import os.path as osp
import random

import numpy as np
import pytest
from data_trees import make_sysu_tree

from mmvireid.datasets import (process_gallery_sysu, process_query_sysu,
                               process_train_sysu)


def reference_gallery(data_path, mode, trial):
    """Literal port of the reference ``process_gallery_sysu`` draw."""
    random.seed(trial)
    cams = ['cam1', 'cam2', 'cam4', 'cam5'
            ] if mode == 'all' else ['cam1', 'cam2']
    with open(osp.join(data_path, 'exp/test_id.txt')) as file:
        ids = file.read().splitlines()
        ids = ['%04d' % int(y) for y in ids[0].split(',')]
    files = []
    for pid in sorted(ids):
        for cam in cams:
            img_dir = osp.join(data_path, cam, pid)
            if osp.isdir(img_dir):
                new_files = sorted(
                    [img_dir + '/' + i for i in os.listdir(img_dir)])
                files.append(random.choice(new_files))
    return files


def test_query_order_and_cameras(sysu_root):
    paths, pids, cams = process_query_sysu(sysu_root, 'all')
    # ids sorted, cam3 then cam6, files sorted; id 7 has no cam6 folder
    expected = [(5, 3), (5, 6), (6, 3), (6, 6), (7, 3)]
    got = []
    for pid, cam in zip(pids, cams):
        if not got or got[-1] != (pid, cam):
            got.append((pid, cam))
    assert got == expected
    assert len(paths) == 5 * 3
    assert paths[:3] == sorted(paths[:3])
    assert paths[0].endswith('cam3/0005/0001.jpg')
    assert paths[3].endswith('cam6/0005/0001.jpg')
    assert process_query_sysu(sysu_root, 'indoor')[0] == paths


@pytest.mark.parametrize('mode', ['all', 'indoor'])
@pytest.mark.parametrize('trial', [0, 3, 9])
def test_gallery_matches_reference_draw(tmp_path, mode, trial):
    root = make_sysu_tree(
        str(tmp_path / 's'),
        test_ids=(12, 3, 8),
        default_count=6,
        images={
            (2, 8): 0,
            (4, 3): 2
        })
    paths, pids, cams = process_gallery_sysu(root, mode, trial)
    assert paths == reference_gallery(root, mode, trial)
    assert set(cams) <= ({1, 2, 4, 5} if mode == 'all' else {1, 2})
    assert all(f'cam{c}/{p:04d}/' in path
               for path, p, c in zip(paths, pids, cams))


def test_gallery_counts_and_indoor(sysu_root):
    paths, pids, cams = process_gallery_sysu(sysu_root, 'all', 0)
    # 3 test ids x 4 visible cams, id 7 lacks cam2
    assert len(paths) == 11 and list(cams[:4]) == [1, 2, 4, 5]
    paths, _, cams = process_gallery_sysu(sysu_root, 'indoor', 0)
    assert len(paths) == 5 and set(cams) == {1, 2}


def test_gallery_keeps_global_random_state(sysu_root):
    random.seed(123)
    expected = [random.random() for _ in range(3)]
    random.seed(123)
    process_gallery_sysu(sysu_root, 'all', 4)
    assert [random.random() for _ in range(3)] == expected


def test_gallery_trials_differ_and_repeat(tmp_path):
    root = make_sysu_tree(str(tmp_path / 's'), default_count=8)
    draws = [tuple(process_gallery_sysu(root, 'all', t)[0]) for t in range(5)]
    assert len(set(draws)) > 1
    assert draws[2] == tuple(process_gallery_sysu(root, 'all', 2)[0])


def test_multi_shot_is_seeded(tmp_path):
    root = make_sysu_tree(str(tmp_path / 's'), default_count=12)
    paths, pids, _ = process_gallery_sysu(root, 'all', 1, shot=10)
    assert len(paths) == 3 * 4 * 10 and len(set(paths)) == len(paths)
    assert paths == process_gallery_sysu(root, 'all', 1, shot=10)[0]
    assert paths != process_gallery_sysu(root, 'all', 2, shot=10)[0]
    # fewer than `shot` images: all of them
    small = make_sysu_tree(str(tmp_path / 't'), default_count=3)
    assert len(process_gallery_sysu(small, 'all', 0, shot=10)[0]) == 36


def test_train_split(sysu_root):
    (vis, vis_pids, vis_cams), (ir, ir_pids, ir_cams) = \
        process_train_sysu(sysu_root)
    assert len(vis) == 4 * 4 * 3 and len(ir) == 4 * 2 * 3
    assert set(vis_pids) == set(ir_pids) == {1, 2, 3, 4}
    assert set(vis_cams) == {1, 2, 4, 5} and set(ir_cams) == {3, 6}
    assert isinstance(vis_pids, np.ndarray)


def test_missing_root(tmp_path):
    with pytest.raises(FileNotFoundError, match='nowhere'):
        process_query_sysu(str(tmp_path / 'nowhere'))


def test_wrong_layout(tmp_path):
    (tmp_path / 'images').mkdir()
    with pytest.raises(ValueError, match='not a SYSU-MM01 tree'):
        process_train_sysu(str(tmp_path))


def test_missing_split_file(sysu_root):
    os.remove(osp.join(sysu_root, 'exp', 'val_id.txt'))
    with pytest.raises(FileNotFoundError, match='val_id.txt'):
        process_train_sysu(sysu_root)


def test_bad_split_file(sysu_root):
    with open(osp.join(sysu_root, 'exp', 'test_id.txt'), 'w') as f:
        f.write('5,x6,7\n')
    with pytest.raises(ValueError, match="test_id.txt.*'x6'"):
        process_query_sysu(sysu_root)


def test_empty_identity_folder(sysu_root):
    folder = osp.join(sysu_root, 'cam1', '0005')
    for name in os.listdir(folder):
        os.remove(osp.join(folder, name))
    with pytest.raises(ValueError, match='cam1/0005.*no image'):
        process_gallery_sysu(sysu_root, 'all', 0)


def test_bad_mode(sysu_root):
    with pytest.raises(ValueError, match='outdoor'):
        process_gallery_sysu(sysu_root, 'outdoor', 0)


def write_split(root, name, text):
    with open(osp.join(root, 'exp', name), 'w') as f:
        f.write(text)


def test_one_id_per_line_and_mixed_separators_are_read(sysu_root):
    official = process_train_sysu(sysu_root)
    query = process_query_sysu(sysu_root)
    gallery = process_gallery_sysu(sysu_root, 'all', 3)[0]
    write_split(sysu_root, 'train_id.txt', '1\n2\n3\n')
    write_split(sysu_root, 'val_id.txt', '4')
    write_split(sysu_root, 'test_id.txt', '\ufeff5, 6\r\n7,\n\n')
    for got, want in zip(
            process_train_sysu(sysu_root) + (process_query_sysu(sysu_root), ),
            official + (query, )):
        assert got[0] == want[0]
        assert list(got[1]) == list(want[1])
    # the gallery draw depends on the ids only, not on how they are written
    assert process_gallery_sysu(sysu_root, 'all', 3)[0] == gallery


def test_ids_without_any_folder_are_all_named(sysu_root):
    write_split(sysu_root, 'test_id.txt', '5,8,6,7,12\n')
    with pytest.raises(ValueError) as info:
        process_query_sysu(sysu_root)
    message = str(info.value)
    assert osp.join(sysu_root, 'exp', 'test_id.txt') in message
    assert message.endswith(': 0008, 0012')
    assert '2 id(s) with no folder in any camera' in message


def test_an_id_seen_by_some_cameras_only_is_fine(sysu_root):
    # as in SYSU-MM01 itself: id 4 appears in cam1 only, so it has
    # visible but no infrared training images
    for cam in range(2, 7):
        folder = osp.join(sysu_root, f'cam{cam}', '0004')
        for name in os.listdir(folder):
            os.remove(osp.join(folder, name))
        os.rmdir(folder)
    (vis, vis_pids, _), (ir, ir_pids, _) = process_train_sysu(sysu_root)
    assert list(vis_pids).count(4) == 3 and 4 not in set(ir_pids)


def test_repeated_ids_are_refused(sysu_root):
    write_split(sysu_root, 'train_id.txt', '1,2\n3\n2,1\n')
    with pytest.raises(ValueError, match=r'train_id.txt.*\[1, 2\] more than'):
        process_train_sysu(sysu_root)
    write_split(sysu_root, 'train_id.txt', '1,2,3,4\n')
    with pytest.raises(ValueError, match=r'val_id.txt both list .*\[4\]'):
        process_train_sysu(sysu_root)
