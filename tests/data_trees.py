"""Builders of small dataset trees in the real SYSU-MM01 / RegDB layouts."""
import os
import os.path as osp
from typing import Dict, Iterable, Tuple

import cv2
import numpy as np


def write_image(path: str, value: int, shape=(16, 8)) -> None:
    """Write a small colour JPEG whose pixels encode ``value``."""
    os.makedirs(osp.dirname(path), exist_ok=True)
    img = np.full((*shape, 3), value % 256, dtype=np.uint8)
    img[..., 1] = (value * 7) % 256
    assert cv2.imwrite(path, img), path


def make_sysu_tree(root: str,
                   train_ids: Iterable[int] = (1, 2, 3),
                   val_ids: Iterable[int] = (4, ),
                   test_ids: Iterable[int] = (5, 6, 7),
                   images: Dict[Tuple[int, int], int] = None,
                   default_count: int = 3) -> str:
    """Create a SYSU-MM01-layout tree.

    Args:
        root: Where to create it.
        train_ids, val_ids, test_ids: Ids of the three exp/*.txt files.
        images: ``{(cam, pid): count}`` overriding ``default_count``
            images per (camera, id); a count of 0 means no folder.
        default_count: Images per (camera, id) when not overridden.
    """
    images = images or {}
    all_ids = list(train_ids) + list(val_ids) + list(test_ids)
    for pid in all_ids:
        for cam in range(1, 7):
            count = images.get((cam, pid), default_count)
            for j in range(count):
                write_image(
                    osp.join(root, f'cam{cam}', f'{pid:04d}',
                             f'{j + 1:04d}.jpg'), pid * 10 + cam + j)
    os.makedirs(osp.join(root, 'exp'), exist_ok=True)
    for name, ids in (('train_id.txt', train_ids), ('val_id.txt', val_ids),
                      ('test_id.txt', test_ids)):
        with open(osp.join(root, 'exp', name), 'w') as f:
            f.write(','.join(str(i) for i in ids) + '\n')
    return root


def make_regdb_tree(root: str, num_ids: int = 4, per_id: int = 2,
                    trials: Iterable[int] = (1, 2)) -> str:
    """Create a RegDB-layout tree: Visible/, Thermal/, idx/*.txt."""
    os.makedirs(osp.join(root, 'idx'), exist_ok=True)
    for folder, modality in (('Visible', 'visible'), ('Thermal', 'thermal')):
        rels = []
        for pid in range(num_ids):
            for j in range(per_id):
                rel = f'{folder}/{pid + 1}/{modality}_{pid}_{j}.bmp'
                write_image(osp.join(root, rel), pid * 5 + j)
                rels.append((rel, pid))
        half = num_ids // 2
        for trial in trials:
            for part, keep in (('train', lambda p: p < half),
                               ('test', lambda p: p >= half)):
                lines = [f'{rel} {pid}' for rel, pid in rels if keep(pid)]
                with open(
                        osp.join(root, 'idx',
                                 f'{part}_{modality}_{trial}.txt'),
                        'w') as f:
                    f.write('\n'.join(lines) + '\n')
    return root
