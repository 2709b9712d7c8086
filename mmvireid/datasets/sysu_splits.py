"""SYSU-MM01 split construction, exactly as the community protocol does it.

The functions mirror ``process_query_sysu`` / ``process_gallery_sysu`` of the
AGW / CAJ cross-modal baselines
(https://github.com/mangye16/Cross-Modal-Re-ID-baseline), which every
published USL-VI-ReID number uses (docs/evaluation.md): queries are all
infrared images of the test ids (cam3 then cam6), the gallery of trial ``t``
draws images of the visible cameras with Python's ``random`` seeded by
``t``.
"""
import os
import os.path as osp
import random
import re
from collections import Counter
from typing import Dict, List, Sequence, Tuple

import numpy as np

VISIBLE_CAMERAS = (1, 2, 4, 5)
INFRARED_CAMERAS = (3, 6)
GALLERY_CAMERAS = {'all': (1, 2, 4, 5), 'indoor': (1, 2)}
IMAGE_EXTENSIONS = ('.jpg', '.jpeg', '.png', '.bmp')
# ids are separated by commas and/or whitespace (newlines included)
_ID_SEPARATORS = re.compile(r'[\s,]+')

SplitTuple = Tuple[List[str], np.ndarray, np.ndarray]


def check_sysu_root(data_path: str) -> None:
    """Raise a clear error unless ``data_path`` looks like SYSU-MM01.

    Args:
        data_path (str): The dataset root.

    Raises:
        FileNotFoundError: The root does not exist.
        ValueError: No ``cam1``..``cam6`` folder is present.
    """
    if not osp.isdir(data_path):
        raise FileNotFoundError(
            f'SYSU-MM01 root {data_path!r} does not exist; expected a folder '
            'holding cam1/ .. cam6/ and exp/{train,val,test}_id.txt')
    cams = [f'cam{c}' for c in range(1, 7)]
    if not any(osp.isdir(osp.join(data_path, cam)) for cam in cams):
        found = sorted(os.listdir(data_path))[:10]
        raise ValueError(
            f'{data_path!r} is not a SYSU-MM01 tree: none of {cams} is a '
            f'folder there (found {found}); expected '
            'cam{1..6}/<4-digit id>/<image> and exp/*_id.txt')


def read_sysu_ids(data_path: str, split_file: str) -> List[int]:
    """Read one ``exp/*_id.txt`` file and check every id has a folder.

    The official files hold one line of comma-separated ids; ids separated
    by commas, spaces, tabs or newlines in any mix (e.g. one id per line)
    are read the same way, and empty tokens (a trailing comma) are ignored.

    Args:
        data_path (str): The dataset root.
        split_file (str): File name inside ``exp/``, e.g. ``'test_id.txt'``.

    Returns:
        list[int]: The ids in file order.

    Raises:
        FileNotFoundError: The file is missing.
        ValueError: The file is empty, has a token that is not an integer,
            lists an id twice, or lists ids that have no folder in any
            camera (all of them are named).
    """
    path = osp.join(data_path, 'exp', split_file)
    if not osp.isfile(path):
        raise FileNotFoundError(
            f'SYSU-MM01 split file {path!r} is missing; expected '
            'comma-separated integer person ids (one line, as released)')
    with open(path, encoding='utf-8-sig') as file:
        tokens = [tok for tok in _ID_SEPARATORS.split(file.read()) if tok]
    if not tokens:
        raise ValueError(f'SYSU-MM01 split file {path!r} is empty; expected '
                         'comma-separated integer person ids')
    bad = [tok for tok in tokens if not (tok.isascii() and tok.isdigit())]
    if bad:
        raise ValueError(f'SYSU-MM01 split file {path!r} has the token '
                         f'{bad[0]!r}, which is not an integer person id '
                         f'({len(bad)} such token(s): {bad[:10]})')
    ids = [int(tok) for tok in tokens]
    repeated = sorted(pid for pid, n in Counter(ids).items() if n > 1)
    if repeated:
        raise ValueError(f'SYSU-MM01 split file {path!r} lists the ids '
                         f'{repeated} more than once')
    _check_id_folders(data_path, path, ids)
    return ids


def _check_id_folders(data_path: str, path: str, ids: Sequence[int]) -> None:
    """Raise unless every id has a ``camN/<id>`` folder in some camera.

    SYSU-MM01 itself lacks some (camera, id) folders (a person not seen by
    that camera), which the protocol skips; an id seen by no camera at all
    means a wrongly prepared copy or a wrong split file.
    """
    cams = [osp.join(data_path, f'cam{c}') for c in range(1, 7)]
    missing = [
        pid for pid in ids
        if not any(osp.isdir(osp.join(cam, f'{pid:04d}')) for cam in cams)
    ]
    if missing:
        raise ValueError(
            f'SYSU-MM01 split file {path!r} lists {len(missing)} id(s) with '
            f'no folder in any camera (cam1..cam6/<4-digit id> under '
            f'{data_path!r}): {", ".join(f"{pid:04d}" for pid in missing)}')


def list_identity_images(data_path: str, cam: int, pid: int) -> List[str]:
    """Sorted image paths of one (camera, identity) folder, or ``[]``.

    Paths are built as the reference builds them (``<root>/camN/<id>/<f>``)
    and sorted as strings, which fixes what ``random.choice`` picks.
    """
    img_dir = osp.join(data_path, f'cam{cam}', f'{pid:04d}')
    if not osp.isdir(img_dir):
        return []
    files = sorted(img_dir + '/' + name for name in os.listdir(img_dir)
                   if name.lower().endswith(IMAGE_EXTENSIONS))
    if not files:
        raise ValueError(f'SYSU-MM01 identity folder {img_dir!r} exists but '
                         f'holds no image ({IMAGE_EXTENSIONS})')
    return files


def _collect(data_path: str, pids: Sequence[int],
             cams: Sequence[int]) -> Dict[str, list]:
    """All images of ``pids`` in ``cams``: ids sorted, cameras in order."""
    out = dict(paths=[], pids=[], cams=[])
    for pid in sorted(pids):
        for cam in cams:
            files = list_identity_images(data_path, cam, pid)
            out['paths'].extend(files)
            out['pids'].extend([pid] * len(files))
            out['cams'].extend([cam] * len(files))
    return out


def _as_split(out: Dict[str, list]) -> SplitTuple:
    return (out['paths'], np.asarray(out['pids'], dtype=np.int64),
            np.asarray(out['cams'], dtype=np.int64))


def process_train_sysu(data_path: str) -> Tuple[SplitTuple, SplitTuple]:
    """Training images (train + val ids) of both modalities.

    Args:
        data_path (str): The dataset root.

    Returns:
        tuple: ``(visible, infrared)``, each ``(paths, pids, cams)``.
    """
    check_sysu_root(data_path)
    ids = _train_ids(data_path)
    return (_as_split(_collect(data_path, ids, VISIBLE_CAMERAS)),
            _as_split(_collect(data_path, ids, INFRARED_CAMERAS)))


def _train_ids(data_path: str) -> List[int]:
    """The train ids then the val ids; an id in both files is an error."""
    train = read_sysu_ids(data_path, 'train_id.txt')
    val = read_sysu_ids(data_path, 'val_id.txt')
    both = sorted(set(train) & set(val))
    if both:
        raise ValueError(
            f'SYSU-MM01 at {data_path!r}: exp/train_id.txt and '
            f'exp/val_id.txt both list the ids {both} (their images would '
            'be trained on twice)')
    return train + val


def list_sysu_images(data_path: str) -> List[str]:
    """Every image of every listed id (train, val, test) in every camera.

    The images the training set, the queries and any gallery trial can
    use, e.g. to verify that each one decodes.

    Args:
        data_path (str): The dataset root.

    Returns:
        list[str]: Image paths, ids sorted, cameras in order.
    """
    check_sysu_root(data_path)
    ids = _train_ids(data_path) + read_sysu_ids(data_path, 'test_id.txt')
    return _collect(data_path, set(ids), range(1, 7))['paths']


def process_query_sysu(data_path: str, mode: str = 'all') -> SplitTuple:
    """Query set: every infrared image of the test ids (cam3, then cam6).

    Args:
        data_path (str): The dataset root.
        mode (str): ``'all'`` or ``'indoor'``; both use the same queries.

    Returns:
        tuple: ``(paths, pids, cams)`` with raw camera numbers (3 or 6).
    """
    _check_mode(mode)
    check_sysu_root(data_path)
    ids = read_sysu_ids(data_path, 'test_id.txt')
    return _as_split(_collect(data_path, ids, INFRARED_CAMERAS))


def process_gallery_sysu(data_path: str,
                         mode: str = 'all',
                         trial: int = 0,
                         shot: int = 1) -> SplitTuple:
    """Gallery of one trial: ``shot`` random images per (test id, camera).

    The single-shot draw is the reference's: ``random.seed(trial)`` then one
    ``random.choice`` per sorted id and camera. We draw from a private
    ``random.Random(trial)``, which yields the same picks without touching
    the caller's global ``random`` state. Multi-shot (``shot > 1``) draws
    ``min(shot, n)`` images with ``Random(trial).sample``; the reference
    leaves that draw unseeded, ours is seeded by ``trial``.

    Args:
        data_path (str): The dataset root.
        mode (str): ``'all'`` (cam1, cam2, cam4, cam5) or ``'indoor'``
            (cam1, cam2).
        trial (int): Trial index (the seed), 0..9 in the protocol.
        shot (int): 1 for single-shot, 10 for multi-shot.

    Returns:
        tuple: ``(paths, pids, cams)`` with raw camera numbers.
    """
    _check_mode(mode)
    if shot < 1:
        raise ValueError(f'shot must be >= 1, got {shot}')
    check_sysu_root(data_path)
    rng = random.Random(trial)
    ids = read_sysu_ids(data_path, 'test_id.txt')
    out = dict(paths=[], pids=[], cams=[])
    for pid in sorted(ids):
        for cam in GALLERY_CAMERAS[mode]:
            files = list_identity_images(data_path, cam, pid)
            if not files:
                continue
            picks = ([rng.choice(files)] if shot == 1 else rng.sample(
                files, min(shot, len(files))))
            out['paths'].extend(picks)
            out['pids'].extend([pid] * len(picks))
            out['cams'].extend([cam] * len(picks))
    return _as_split(out)


def _check_mode(mode: str) -> None:
    if mode not in GALLERY_CAMERAS:
        raise ValueError(f'SYSU-MM01 mode must be one of '
                         f'{sorted(GALLERY_CAMERAS)}, got {mode!r}')
