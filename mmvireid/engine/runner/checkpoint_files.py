"""Checkpoint files that are never half-written, lost or silently wrong.

- A checkpoint is written under a temporary name in its final folder,
  checked, fsynced and renamed into place (:func:`commit_checkpoint`), so a
  file with a checkpoint's name is always complete; ``last_checkpoint`` is
  replaced the same way (:func:`write_text_atomically`).
- Before a local checkpoint is loaded, :func:`verify_checkpoint_file` reads
  it whole and checks the CRC-32 that ``torch.save``'s zip format stores for
  every entry (``torch.load`` does not check them): an empty, truncated or
  foreign file, or one with changed bytes, is refused with the file's name
  and what is wrong with it.
- :func:`check_resumable` refuses to resume from a file that is not a
  training checkpoint (weights only, another library's).
- :func:`latest_intact_checkpoint` is auto-resume's choice: the newest
  complete checkpoint of a work dir, passing over (with a warning) any that
  fail the check.
"""
import logging
import os
import os.path as osp
import re
import zipfile
import zlib
from typing import List, Mapping, Optional, Tuple

import torch
from mmengine.logging import print_log

# Temporary names: ``.epoch_3.pth.tmp-<pid>`` beside the final file. They
# never match a checkpoint name (``epoch_3.pth``) and name their writer.
TEMPORARY_PATTERN = re.compile(r'^\.(?P<final>.+)\.tmp-(?P<pid>\d+)$')
# The names mmengine's CheckpointHook gives (``filename_tmpl`` default).
CHECKPOINT_PATTERN = re.compile(r'^(?:epoch|iter)_(?P<step>\d+)\.pth$')
# ``torch.save``'s legacy (non-zip) format starts with a pickle opcode.
_PICKLE_PROTO = 0x80


class CheckpointError(ValueError):
    """A checkpoint file that cannot be used: empty, truncated, corrupt,
    or not what the operation needs."""


def temporary_name(final_name: str) -> str:
    """The temporary name the current process writes ``final_name`` under.

    Args:
        final_name (str): Base name of the checkpoint, e.g. ``epoch_3.pth``.

    Returns:
        str: ``.epoch_3.pth.tmp-<pid>``.
    """
    return f'.{final_name}.tmp-{os.getpid()}'


def _is_local(filename: str) -> bool:
    return '://' not in filename


def _fsync_path(path: str) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def verify_checkpoint_file(filename: str) -> None:
    """Refuse a local checkpoint that is empty, truncated or corrupt.

    Reads the whole file and checks the CRC-32 of every entry of
    ``torch.save``'s zip archive. Files of ``torch.save``'s legacy format
    carry no checksum and pass unchecked; URLs and missing files are left to
    the loader (which names a missing file itself).

    Args:
        filename (str): Checkpoint path (or URL).

    Raises:
        CheckpointError: Naming the file and what is wrong with it.
    """
    if not _is_local(filename) or not osp.isfile(filename):
        return
    size = osp.getsize(filename)
    if size == 0:
        raise CheckpointError(
            f'checkpoint {filename} is empty (0 bytes): an interrupted save '
            'or copy; use an intact checkpoint')
    if not zipfile.is_zipfile(filename):
        with open(filename, 'rb') as file:
            head = file.read(1)
        if head and head[0] == _PICKLE_PROTO:
            return  # legacy torch.save format: no checksum to check
        raise CheckpointError(
            f'checkpoint {filename} ({size} bytes) is not a complete PyTorch '
            'checkpoint: it is not a zip archive of torch.save, so it was '
            'truncated (an interrupted save or copy) or is another kind of '
            'file')
    try:
        with zipfile.ZipFile(filename) as archive:
            bad_entry = archive.testzip()
    except (zipfile.BadZipFile, zlib.error, EOFError, OSError) as error:
        raise CheckpointError(
            f'checkpoint {filename} is corrupt: {error}') from error
    if bad_entry is not None:
        raise CheckpointError(
            f'checkpoint {filename} is corrupt: the CRC-32 of its entry '
            f'{bad_entry!r} does not match its bytes (changed on disk or in '
            'a copy); refused rather than loaded with wrong values')


def check_resumable(checkpoint: object,
                    filename: str,
                    optimizer: bool = True,
                    param_schedulers: bool = False) -> None:
    """Refuse to resume from a file that is not a training checkpoint.

    Args:
        checkpoint (object): What the file loaded to.
        filename (str): Its path, for the message.
        optimizer (bool): Whether the optimizer's state is resumed.
        param_schedulers (bool): Whether the parameter schedulers' states
            are resumed.

    Raises:
        CheckpointError: Naming the file, what it holds and what resuming
            needs.
    """
    needed = ['meta', 'state_dict', 'message_hub']
    if optimizer:
        needed.append('optimizer')
    if param_schedulers:
        needed.append('param_schedulers')
    if not isinstance(checkpoint, Mapping):
        held = f'a {type(checkpoint).__name__}'
        missing = needed
    else:
        held = f'the keys {sorted(map(str, checkpoint))}'
        missing = [key for key in needed if key not in checkpoint]
        meta = checkpoint.get('meta')
        if 'meta' not in missing and not (isinstance(meta, Mapping) and all(
                key in meta for key in ('epoch', 'iter'))):
            missing.append("meta['epoch'] / meta['iter']")
    if not missing:
        return
    has_weights = isinstance(
        checkpoint,
        Mapping) and ('state_dict' in checkpoint or checkpoint and all(
            isinstance(value, torch.Tensor) for value in checkpoint.values()))
    if has_weights:
        hint = (f'To start a new training from its weights, set '
                f'load_from={filename!r} without --resume.')
    else:
        hint = ('Its weights are not in an mmengine state_dict either: '
                'convert the file (see tools/model_converters/) first.')
    raise CheckpointError(
        f'cannot resume from {filename}: it is not a training checkpoint '
        f'of this runner (it holds {held}; resuming also needs '
        f'{", ".join(missing)}). {hint}')


def commit_checkpoint(temporary: str, final: str) -> None:
    """Put a checkpoint written under ``temporary`` in place as ``final``.

    The file is checked (:func:`verify_checkpoint_file`), flushed to disk,
    renamed over ``final`` in one step and the folder is flushed, so a crash
    at any point leaves either the old ``final`` or the new one, complete.

    Args:
        temporary (str): The written file.
        final (str): Its name, in the same folder.

    Raises:
        CheckpointError: The written file does not verify (it is removed).
    """
    try:
        verify_checkpoint_file(temporary)
    except CheckpointError:
        os.remove(temporary)
        raise
    _fsync_path(temporary)
    os.replace(temporary, final)
    _fsync_path(osp.dirname(osp.abspath(final)))


def write_text_atomically(path: str, text: str) -> None:
    """Replace a small text file in one step (write, fsync, rename).

    Args:
        path (str): The file, e.g. a work dir's ``last_checkpoint``.
        text (str): Its new content.
    """
    folder, name = osp.split(osp.abspath(path))
    temporary = osp.join(folder, temporary_name(name))
    with open(temporary, 'w') as file:
        file.write(text)
        file.flush()
        os.fsync(file.fileno())
    os.replace(temporary, path)
    _fsync_path(folder)


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, another user's
        return True
    return True


def remove_stale_temporaries(folder: str) -> List[str]:
    """Remove the temporary files of interrupted saves in ``folder``.

    Only files whose writing process is gone are removed; a live writer's
    are kept.

    Args:
        folder (str): A checkpoint folder.

    Returns:
        list[str]: The removed files.
    """
    removed = []
    if not osp.isdir(folder):
        return removed
    for name in sorted(os.listdir(folder)):
        match = TEMPORARY_PATTERN.match(name)
        if match is None or _process_alive(int(match.group('pid'))):
            continue
        path = osp.join(folder, name)
        try:
            os.remove(path)
        except FileNotFoundError:
            continue
        removed.append(path)
    return removed


def _read_last_checkpoint(work_dir: str) -> Optional[str]:
    path = osp.join(work_dir, 'last_checkpoint')
    if not osp.isfile(path):
        return None
    with open(path) as file:
        named = file.read().strip()
    return named or None


def checkpoint_candidates(work_dir: str) -> List[str]:
    """The checkpoints auto-resume may choose from, newest first.

    They are the file ``last_checkpoint`` names and every ``epoch_N.pth`` /
    ``iter_N.pth`` beside it (or in ``work_dir``), ordered by the time they
    were completed (a file only gets its name once complete), then by ``N``.

    Args:
        work_dir (str): The run's work dir.

    Returns:
        list[str]: Existing candidate paths, newest first.
    """
    named = _read_last_checkpoint(work_dir)
    folders = [work_dir]
    if named is not None and _is_local(named):
        folders.insert(0, osp.dirname(named) or work_dir)
    found = {}
    for folder in folders:
        if not osp.isdir(folder):
            continue
        for name in os.listdir(folder):
            match = CHECKPOINT_PATTERN.match(name)
            if match is not None:
                path = osp.join(folder, name)
                found[osp.abspath(path)] = (path, int(match.group('step')))
    if named is not None and _is_local(named) and osp.isfile(named):
        found.setdefault(osp.abspath(named), (named, -1))

    def newest_first(item: Tuple[str, int]) -> Tuple[int, int]:
        path, step = item
        return (-os.stat(path).st_mtime_ns, -step)

    return [path for path, _ in sorted(found.values(), key=newest_first)]


def latest_intact_checkpoint(
        work_dir: str,
        logger: Optional[logging.Logger] = None) -> Optional[str]:
    """Auto-resume's checkpoint: the newest one of ``work_dir`` that passes
    :func:`verify_checkpoint_file`.

    A newer one that fails the check is passed over with a warning naming
    it and the reason, as is a ``last_checkpoint`` naming a missing file.

    Args:
        work_dir (str): The run's work dir.
        logger (logging.Logger, optional): Where the warnings go.

    Returns:
        str | None: The checkpoint, or None when the work dir has none.

    Raises:
        CheckpointError: Checkpoints exist but none is intact (training
            from scratch would overwrite them), listing each with its fault.
    """
    logger = logger or 'current'
    named = _read_last_checkpoint(work_dir)
    if named is not None and _is_local(named) and not osp.isfile(named):
        print_log(
            f'{osp.join(work_dir, "last_checkpoint")} names {named}, which '
            'does not exist',
            logger=logger,
            level=logging.WARNING)
    faults = []
    for path in checkpoint_candidates(work_dir):
        try:
            verify_checkpoint_file(path)
        except CheckpointError as error:
            faults.append(str(error))
            print_log(
                f'auto-resume passes over {path}: {error}',
                logger=logger,
                level=logging.WARNING)
            continue
        if faults or (named is not None
                      and osp.abspath(named) != osp.abspath(path)):
            print_log(
                f'auto-resume falls back to {path}, the newest intact '
                f'checkpoint of {work_dir}',
                logger=logger,
                level=logging.WARNING)
        return path
    if faults:
        raise CheckpointError(
            f'no intact checkpoint to resume from in {work_dir}:\n' +
            '\n'.join(faults))
    return None
