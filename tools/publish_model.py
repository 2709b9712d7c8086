# Copyright (c) mmvireid contributors. All rights reserved.
"""Turn an mmvireid / MMEngine training checkpoint into a release file.

Only the model weights (``state_dict``) and a small, cleaned ``meta`` are
kept; optimizer, parameter-scheduler and message-hub state are dropped. Every
tensor is moved to the CPU and everything else is reduced to plain Python
builtins, so the published file loads with ``torch.load(f,
weights_only=True)`` and no extra allow-listing. The file is named
``<OUT stem>-<first 8 hex digits of its sha256>.pth``.

Example::

    python tools/publish_model.py work_dirs/xxx/epoch_40.pth xxx_sysu.pth
    # -> xxx_sysu-1a2b3c4d.pth
"""
import argparse
import hashlib
import os
import os.path as osp
import sys
import tempfile
from collections import OrderedDict
from typing import Any, Optional, Sequence

import numpy as np
import torch

import mmvireid
from mmvireid.utils import MMENGINE_CHECKPOINT_SAFE_GLOBALS

# ``meta`` entries kept in the published checkpoint (``mmvireid_version`` is
# added on top of them).
KEPT_META_KEYS = ('cfg', 'mmengine_version', 'epoch', 'iter', 'seed',
                  'dataset_meta')


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Strip a training checkpoint down to its weights and '
        'publish it as <OUT stem>-<sha256[:8]>.pth')
    parser.add_argument('in_file', help='input (training) checkpoint')
    parser.add_argument(
        'out_file',
        help='output file name; a trailing ".pth" is replaced by '
        '"-<sha256[:8]>.pth"')
    return parser.parse_args(argv)


def load_training_checkpoint(in_file: str) -> dict:
    """Load an MMEngine training checkpoint safely, on the CPU."""
    if not osp.isfile(in_file):
        raise FileNotFoundError(f'input checkpoint not found: {in_file}')
    try:
        with torch.serialization.safe_globals(
                MMENGINE_CHECKPOINT_SAFE_GLOBALS):
            checkpoint = torch.load(
                in_file, map_location='cpu', weights_only=True)
    except Exception as e:
        raise RuntimeError(f'failed to load {in_file} with '
                           f'weights_only=True: {e}') from e
    if not isinstance(checkpoint, dict):
        raise ValueError(f'{in_file} is not a training checkpoint: expected '
                         f'a dict, got {type(checkpoint).__name__}')
    if 'state_dict' not in checkpoint:
        raise ValueError(f"{in_file} has no 'state_dict' entry; keys found: "
                         f'{sorted(map(str, checkpoint))}')
    return checkpoint


_UNSUPPORTED = object()


def _to_plain(obj: Any, where: str, strict: bool) -> Any:
    """Recursively convert ``obj`` to CPU tensors and Python builtins.

    Unsupported objects raise ``TypeError`` when ``strict`` and are returned
    as ``_UNSUPPORTED`` (so the caller drops them) otherwise.
    """
    if isinstance(obj, torch.Tensor):
        # Drops Parameter / subclass wrappers and autograd history.
        return obj.detach().cpu().as_subclass(torch.Tensor)
    if obj is None or isinstance(obj, (bool, int, float, complex, str, bytes)):
        # Subclasses of builtins (e.g. IntEnum) become the builtin.
        for base in (bool, int, float, complex, str, bytes):
            if isinstance(obj, base):
                return base(obj)
        return obj
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return _to_plain(obj.tolist(), where, strict)
    if isinstance(obj, dict):
        out = OrderedDict() if isinstance(obj, OrderedDict) else {}
        for key, value in obj.items():
            key_plain = _to_plain(key, f'{where} key', strict)
            value_plain = _to_plain(value, f'{where}[{key!r}]', strict)
            if key_plain is _UNSUPPORTED or value_plain is _UNSUPPORTED:
                _warn(f'dropping {where}[{key!r}] '
                      f'({type(value).__name__} is not publishable)')
                continue
            out[key_plain] = value_plain
        metadata = getattr(obj, '_metadata', None)
        if isinstance(out, OrderedDict) and metadata is not None:
            # ``nn.Module.state_dict()`` records per-module versions here,
            # which ``load_state_dict`` uses (e.g. BatchNorm).
            metadata_plain = _to_plain(
                dict(metadata), f'{where}._metadata', strict)
            if metadata_plain is not _UNSUPPORTED:
                out._metadata = metadata_plain
        return out
    if isinstance(obj, (list, tuple, set, frozenset)):
        items = [
            _to_plain(v, f'{where}[{i}]', strict) for i, v in enumerate(obj)
        ]
        if any(v is _UNSUPPORTED for v in items):
            return _UNSUPPORTED
        if isinstance(obj, tuple):
            return tuple(items)
        return items
    if strict:
        raise TypeError(f'{where} is a {type(obj).__module__}.'
                        f'{type(obj).__qualname__}, which cannot be '
                        'published (only tensors and Python builtins can)')
    return _UNSUPPORTED


def _warn(msg: str) -> None:
    print(f'publish_model: warning: {msg}', file=sys.stderr)


def process_checkpoint(checkpoint: dict) -> dict:
    """Keep only ``state_dict`` and a cleaned ``meta``."""
    state_dict = _to_plain(checkpoint['state_dict'], 'state_dict', strict=True)
    meta_in = checkpoint.get('meta') or {}
    meta = {}
    for key in KEPT_META_KEYS:
        if key in meta_in:
            value = _to_plain(meta_in[key], f'meta[{key!r}]', strict=False)
            if value is _UNSUPPORTED:
                _warn(f'dropping meta[{key!r}] '
                      f'({type(meta_in[key]).__name__} is not publishable)')
                continue
            meta[key] = value
    meta['mmvireid_version'] = mmvireid.__version__
    return dict(meta=meta, state_dict=state_dict)


def _strip_pth(out_file: str) -> str:
    return out_file[:-len('.pth')] if out_file.endswith('.pth') else out_file


def save_published(checkpoint: dict, out_file: str) -> str:
    """Save atomically as ``<OUT stem>-<sha256[:8]>.pth``; return its path.

    The bytes are written to a temporary file in the destination directory,
    hashed, checked to load with ``weights_only=True`` and then moved into
    place with :func:`os.replace`.
    """
    stem = _strip_pth(out_file)
    out_dir = osp.dirname(osp.abspath(stem))
    os.makedirs(out_dir, exist_ok=True)
    fd, tmp_path = tempfile.mkstemp(
        prefix=f'.{osp.basename(stem)}.', suffix='.tmp', dir=out_dir)
    try:
        sha256 = hashlib.sha256()
        # Saving through a file object (not a path) keeps the zip archive's
        # internal name fixed, so identical content gives identical bytes.
        with os.fdopen(fd, 'wb') as f:
            torch.save(checkpoint, f)
            f.flush()
            os.fsync(f.fileno())
        # mkstemp creates the file 0600; give it the usual permissions.
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp_path, 0o666 & ~umask)
        with open(tmp_path, 'rb') as f:
            for chunk in iter(lambda: f.read(1 << 20), b''):
                sha256.update(chunk)
        torch.load(tmp_path, map_location='cpu', weights_only=True)
        final_file = f'{stem}-{sha256.hexdigest()[:8]}.pth'
        os.replace(tmp_path, final_file)
    except BaseException:
        if osp.exists(tmp_path):
            os.remove(tmp_path)
        raise
    return final_file


def publish_model(in_file: str, out_file: str) -> str:
    """Publish ``in_file`` under ``out_file``'s stem; return the final
    path."""
    checkpoint = load_training_checkpoint(in_file)
    return save_published(process_checkpoint(checkpoint), out_file)


def main(argv: Optional[Sequence[str]] = None) -> str:
    args = parse_args(argv)
    try:
        final_file = publish_model(args.in_file, args.out_file)
    except (OSError, ValueError, TypeError, RuntimeError) as e:
        print(f'publish_model: error: {e}', file=sys.stderr)
        raise SystemExit(1) from e
    print(final_file)
    return final_file


if __name__ == '__main__':
    main()
