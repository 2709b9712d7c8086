"""Write (and cache) a SynthVI tree in SYSU-MM01's layout.

::

    <root>/cam1..cam6/<pid:04d>/<nnnn:04d>.jpg   # cam3, cam6 infrared
    <root>/exp/train_id.txt val_id.txt test_id.txt
    <root>/synthvi_manifest.json                 # written last

The tree is generated in a temporary sibling folder and renamed into place,
so a reader never sees a half-written tree and concurrent generators of the
same root agree on one result. Each generation holds an exclusive ``flock``
on a sibling lock file for as long as its temporary folders exist::

    <parent>/.<root name>.synthvi-lock-<pid>-<hex>   # held while writing
    <parent>/.<root name>.synthvi-tmp-<pid>-<hex>    # the tree being written
    <parent>/.<root name>.synthvi-old-<pid>-<hex>    # a replaced tree

The kernel drops the lock when its process dies (even by kill -9), so the
next generation of the same root removes the folders of every generation
whose lock is free (:func:`clean_stale_synthvi_temp`) and never those of a
live one, in this or another process.
"""
from __future__ import annotations

import contextlib
import errno
import json
import os
import re
import shutil
import time
import uuid
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any, Iterator, Mapping

try:
    import fcntl
except ImportError:  # not POSIX: stale folders are left alone
    fcntl = None

import cv2
import numpy as np
from mmengine.logging import print_log

from .synthvi_config import (INFRARED_CAMERAS, SYNTHVI_GENERATOR_VERSION,
                             SYNTHVI_PRESETS, VISIBLE_CAMERAS, SynthVIConfig,
                             resolve_synthvi_config)
from .synthvi_identity import sample_camera, sample_identity
from .synthvi_plan import (count_synthvi_images, synthvi_image_plan,
                           synthvi_split_ids)
from .synthvi_render import render_sample

MANIFEST_NAME = 'synthvi_manifest.json'

__all__ = [
    'SynthVIConfig', 'SYNTHVI_PRESETS', 'MANIFEST_NAME', 'generate_synthvi',
    'ensure_synthvi', 'load_synthvi_manifest', 'clean_stale_synthvi_temp'
]

#: the kinds of sibling entries a generation makes (see the module docs)
_TEMP_KINDS = ('tmp', 'old')
_TAG = re.compile(r'(\d+)-[0-9a-f]+')

ConfigLike = SynthVIConfig | str | Mapping[str, Any] | None


def load_synthvi_manifest(root: str | os.PathLike) -> dict | None:
    """Read ``<root>/synthvi_manifest.json``.

    Args:
        root (str | PathLike): Tree root.

    Returns:
        dict | None: The manifest, or None if there is no readable one.
    """
    path = Path(root) / MANIFEST_NAME
    try:
        with open(path, encoding='utf-8') as file:
            manifest = json.load(file)
    except (OSError, ValueError):
        return None
    return manifest if isinstance(manifest, dict) else None


def _render_identity(cfg: SynthVIConfig, pid: int, counts: np.ndarray,
                     out_dir: str) -> int:
    """Render and write every image of one identity; return the count."""
    ident = sample_identity(cfg, pid)
    params = [int(cv2.IMWRITE_JPEG_QUALITY), cfg.jpeg_quality]
    written = 0
    for cam, num in enumerate(counts.tolist(), start=1):
        if num == 0:
            continue
        scene = sample_camera(cfg, cam)
        folder = os.path.join(out_dir, f'cam{cam}', f'{pid:04d}')
        os.makedirs(folder)
        for index in range(1, num + 1):
            rgb = render_sample(cfg, pid, cam, index, ident, scene)
            ok, buf = cv2.imencode('.jpg',
                                   np.ascontiguousarray(rgb[..., ::-1]),
                                   params)
            if not ok:
                raise RuntimeError(f'JPEG encoding failed for {folder}')
            with open(os.path.join(folder, f'{index:04d}.jpg'), 'wb') as f:
                f.write(buf.tobytes())
            written += 1
    return written


def _params_diff(manifest: Mapping[str, Any], cfg: SynthVIConfig) -> list[str]:
    """``'key: old -> new'`` for every parameter that differs."""
    old = manifest.get('params') or {}
    new = json.loads(json.dumps(cfg.to_dict()))
    diffs = [
        f'{key}: {old.get(key, "<missing>")!r} -> '
        f'{new.get(key, "<missing>")!r}'
        for key in sorted(set(old) | set(new))
        if old.get(key, '<missing>') != new.get(key, '<missing>')
    ]
    version = manifest.get('generator_version')
    if version != SYNTHVI_GENERATOR_VERSION:
        diffs.insert(
            0, f'generator_version: {version!r} -> '
            f'{SYNTHVI_GENERATOR_VERSION!r}')
    return diffs


def _is_empty_dir(path: Path) -> bool:
    return path.is_dir() and not any(path.iterdir())


def _not_synthvi(root: Path) -> ValueError:
    return ValueError(
        f'{str(root)!r} exists, is not empty and is not a SynthVI tree (no '
        f'{MANIFEST_NAME}); refusing to touch it. Choose another root or '
        'move that folder away.')


def generate_synthvi(root: str | os.PathLike,
                     cfg: ConfigLike = None,
                     show_progress: bool = True,
                     num_workers: int = 0,
                     overwrite: bool = False,
                     **overrides: Any) -> dict:
    """Generate a SynthVI tree at ``root`` atomically.

    Images are written into a temporary sibling folder, the manifest last,
    and the folder is then renamed to ``root``. If another process finished
    the same root first with the same parameters, this result is discarded
    and theirs returned.

    Args:
        root (str | PathLike): Where the tree goes; must not exist or be an
            empty folder (or, with ``overwrite``, hold a SynthVI tree).
        cfg (SynthVIConfig | str | Mapping, optional): Parameters, a preset
            name or a dict of fields. Defaults to the ``'default'`` preset.
        show_progress (bool): Log progress about every 10%.
        num_workers (int): Worker processes (0 = in this process). The
            output does not depend on it.
        overwrite (bool): Replace an existing SynthVI tree at ``root``.
            Folders without a manifest are never replaced.
        **overrides: :class:`SynthVIConfig` fields (or ``preset``).

    Returns:
        dict: The manifest (version, parameters, counts).

    Raises:
        FileExistsError: ``root`` holds a SynthVI tree and not
            ``overwrite``.
        ValueError: ``root`` is a non-empty folder without a manifest, or a
            parameter is invalid.
    """
    cfg = resolve_synthvi_config(cfg, **overrides)
    root = Path(os.path.abspath(os.path.expanduser(os.fspath(root))))
    old = load_synthvi_manifest(root)
    if old is None and root.exists() and not _is_empty_dir(root):
        raise _not_synthvi(root)
    if old is not None and not overwrite:
        raise FileExistsError(
            f'{str(root)!r} already holds a SynthVI tree; use '
            'ensure_synthvi() to reuse it or overwrite=True to replace it')

    ids = synthvi_split_ids(cfg)
    plan = synthvi_image_plan(cfg)
    manifest = dict(
        generator='SynthVI',
        generator_version=SYNTHVI_GENERATOR_VERSION,
        layout='SYSU-MM01',
        visible_cameras=list(VISIBLE_CAMERAS),
        infrared_cameras=list(INFRARED_CAMERAS),
        params=cfg.to_dict(),
        counts=count_synthvi_images(cfg, ids, plan))
    total = manifest['counts']['images']['total']
    root.parent.mkdir(parents=True, exist_ok=True)
    clean_stale_synthvi_temp(root)
    start = time.perf_counter()
    if show_progress:
        print_log(
            f'SynthVI: generating {len(plan)} identities, {total} '
            f'images into {root}',
            logger='current')
    with _generation_lock(root) as tag:
        tmp = _temp_path(root, 'tmp', tag)
        tmp.mkdir()
        _write_images(cfg, plan, tmp, total, show_progress, num_workers)
        (tmp / 'exp').mkdir()
        for split in ('train', 'val', 'test'):
            (tmp / 'exp' / f'{split}_id.txt').write_text(','.join(
                str(pid) for pid in ids[split]) + '\n')
        with open(tmp / MANIFEST_NAME, 'w', encoding='utf-8') as file:
            json.dump(manifest, file, indent=2)
            file.write('\n')
        result = _install(
            tmp, root, manifest, cfg, replace_old=old is not None)
    if show_progress:
        print_log(
            f'SynthVI: done in {time.perf_counter() - start:.1f} s',
            logger='current')
    return result


def _write_images(cfg: SynthVIConfig, plan: dict[int,
                                                 np.ndarray], out_dir: Path,
                  total: int, show_progress: bool, num_workers: int) -> None:
    done, next_report = 0, 0.1

    def report(n: int) -> None:
        nonlocal done, next_report
        done += n
        if show_progress and done >= next_report * total:
            print_log(
                f'SynthVI: {done}/{total} images '
                f'({100 * done // max(total, 1)}%)',
                logger='current')
            next_report = (int(10 * done / max(total, 1)) + 1) / 10

    if num_workers <= 0:
        for pid, counts in plan.items():
            report(_render_identity(cfg, pid, counts, str(out_dir)))
        return
    with ProcessPoolExecutor(max_workers=num_workers) as pool:
        futures = [
            pool.submit(_render_identity, cfg, pid, counts, str(out_dir))
            for pid, counts in plan.items()
        ]
        for future in futures:
            report(future.result())


def _install(tmp: Path, root: Path, manifest: dict, cfg: SynthVIConfig,
             replace_old: bool) -> dict:
    """Rename ``tmp`` to ``root``; return the manifest that ends up there."""
    if replace_old:
        trash = tmp.with_name(
            tmp.name.replace('.synthvi-tmp-', '.synthvi-old-'))
        os.rename(root, trash)
        try:
            os.rename(tmp, root)
        finally:
            shutil.rmtree(trash, ignore_errors=True)
        return manifest
    try:
        os.rename(tmp, root)  # POSIX: also replaces an empty folder
        return manifest
    except OSError as exc:
        if exc.errno not in (errno.ENOTEMPTY, errno.EEXIST):
            raise
    other = load_synthvi_manifest(root)
    if other is not None and not _params_diff(other, cfg):
        return other  # another process won the race with the same tree
    raise ValueError(f'{str(root)!r} was filled by someone else while '
                     'SynthVI was generating it; result discarded')


def _temp_path(root: Path, kind: str, tag: str) -> Path:
    return root.parent / f'.{root.name}.synthvi-{kind}-{tag}'


@contextlib.contextmanager
def _generation_lock(root: Path) -> Iterator[str]:
    """Create and hold this generation's lock file; yield its tag.

    On exit the generation's temporary folders and the lock file are
    removed (folders first, so a folder never outlives its lock file while
    its owner is alive).
    """
    tag = f'{os.getpid()}-{uuid.uuid4().hex[:8]}'
    lock = _temp_path(root, 'lock', tag)
    fd = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_RDWR, 0o644)
    try:
        if fcntl is not None:
            fcntl.flock(fd, fcntl.LOCK_EX)  # a new file: granted at once
        yield tag
    finally:
        for kind in _TEMP_KINDS:
            shutil.rmtree(_temp_path(root, kind, tag), ignore_errors=True)
        with contextlib.suppress(OSError):
            lock.unlink()
        os.close(fd)


def _pid_alive(pid: int) -> bool:
    """Whether process ``pid`` exists on this machine (POSIX)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # e.g. another user's process
        return True
    return True


@contextlib.contextmanager
def _if_owner_dead(lock: Path, pid: int) -> Iterator[bool]:
    """Yield whether the generation of ``lock`` is dead, holding its lock
    (if it has one) meanwhile so that no two cleaners overlap."""
    if fcntl is None or os.name != 'posix' or pid == os.getpid():
        yield False  # unknown, or this process: never removed
        return
    try:
        fd = os.open(lock, os.O_RDWR)  # never re-create it
    except FileNotFoundError:
        # no lock file: left by a generator without locks (mmvireid before
        # the lock files), whose name holds its pid
        yield not _pid_alive(pid)
        return
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:  # held: the generation is alive
            yield False
            return
        yield True
    finally:
        os.close(fd)


def clean_stale_synthvi_temp(root: str | os.PathLike) -> list[Path]:
    """Remove the temporary folders of interrupted generations of ``root``.

    A folder ``.<name>.synthvi-{tmp,old}-<pid>-<hex>`` beside ``root`` is
    removed when its generation's lock file is not locked any more (its
    process died: the kernel released the lock), or, for a folder without a
    lock file (written by an older mmvireid), when no process ``<pid>``
    exists. Folders of live generations, also of other processes writing
    the same root right now, and of this process are kept. Every removal is
    logged. Nothing is removed where ``fcntl`` is unavailable.

    Args:
        root (str | PathLike): The SynthVI root whose siblings are checked.

    Returns:
        list[Path]: The folders removed.
    """
    root = Path(os.path.abspath(os.path.expanduser(os.fspath(root))))
    prefix = f'.{root.name}.synthvi-'
    try:
        entries = os.listdir(root.parent)
    except OSError:
        return []
    tags: dict[str, set[str]] = {}
    for entry in entries:
        kind, _, tag = entry[len(prefix):].partition('-')
        if entry.startswith(prefix) and _TAG.fullmatch(tag) and \
                kind in _TEMP_KINDS + ('lock', ):
            tags.setdefault(tag, set()).add(kind)
    removed = []
    for tag, kinds in sorted(tags.items()):
        lock = _temp_path(root, 'lock', tag)
        pid = int(_TAG.fullmatch(tag).group(1))
        with _if_owner_dead(lock, pid) as dead:
            if not dead:
                continue
            for kind in _TEMP_KINDS:
                folder = _temp_path(root, kind, tag)
                if kind in kinds and folder.exists():
                    shutil.rmtree(folder, ignore_errors=True)
                    if not folder.exists():
                        removed.append(folder)
                        print_log(
                            f'SynthVI: removed {str(folder)!r}, left by an '
                            f'interrupted generation (process {pid} is gone)',
                            logger='current')
            with contextlib.suppress(OSError):
                lock.unlink()
    return removed


def ensure_synthvi(root: str | os.PathLike,
                   cfg: ConfigLike = None,
                   show_progress: bool = True,
                   num_workers: int = 0,
                   **overrides: Any) -> dict:
    """Return the SynthVI tree at ``root``, generating it if needed.

    - ``root`` holds a manifest with the same parameters and generator
      version: return it (nothing is written).
    - ``root`` does not exist or is an empty folder: generate it.
    - ``root`` holds a manifest with other parameters: ValueError listing
      the differing keys (old -> new).
    - ``root`` is a non-empty folder without a manifest: ValueError.

    Nothing in ``root`` is ever deleted; temporary folders beside it left by
    interrupted generations are (:func:`clean_stale_synthvi_temp`).

    Args:
        root (str | PathLike): Tree root.
        cfg (SynthVIConfig | str | Mapping, optional): Parameters, a preset
            name or a dict of fields. Defaults to the ``'default'`` preset.
        show_progress (bool): Log progress while generating.
        num_workers (int): Worker processes while generating.
        **overrides: :class:`SynthVIConfig` fields (or ``preset``).

    Returns:
        dict: The manifest.
    """
    cfg = resolve_synthvi_config(cfg, **overrides)
    path = Path(os.path.expanduser(os.fspath(root)))
    manifest = load_synthvi_manifest(path)
    if manifest is not None:
        diffs = _params_diff(manifest, cfg)
        if not diffs:
            clean_stale_synthvi_temp(path)
            return manifest
        raise ValueError(
            f'The SynthVI tree at {str(path)!r} was generated with other '
            f'parameters ({"; ".join(diffs)}). Delete that folder to '
            'regenerate it, or choose another root.')
    if path.exists() and not _is_empty_dir(path):
        raise _not_synthvi(path)
    return generate_synthvi(
        path, cfg, show_progress=show_progress, num_workers=num_workers)
