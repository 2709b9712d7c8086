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
import importlib
import importlib.util
import inspect
import os
import os.path as osp
import pickle
import sys
import tempfile
import types
from collections import OrderedDict
from typing import Any, Callable, List, Optional, Sequence, Tuple, Union

import numpy as np
import torch

# ``meta`` entries kept in the published checkpoint (``mmvireid_version`` is
# added on top of them).
KEPT_META_KEYS = ('cfg', 'mmengine_version', 'epoch', 'iter', 'seed',
                  'dataset_meta')

# Statistics methods HistoryBuffer registers for itself.
_HISTORY_BUFFER_STATISTICS = ('min', 'max', 'current', 'mean')

SafeGlobal = Union[Callable, Tuple[Callable, str]]


def _numpy_multiarray():
    """Return numpy's C ``multiarray`` module (``numpy._core`` on numpy>=2,
    ``numpy.core`` before) without touching the deprecated shim."""
    try:
        return importlib.import_module('numpy._core.multiarray')
    except ImportError:  # numpy < 2
        return importlib.import_module('numpy.core.multiarray')


def _numpy_dtype_classes() -> List[type]:
    """All concrete dtype classes (``numpy.dtypes.Float64DType``, ...)."""
    classes = set()
    for code in np.typecodes['All']:
        try:
            classes.add(type(np.dtype(code)))
        except TypeError:  # pragma: no cover - code unknown to this numpy
            pass
    dtypes_mod = getattr(np, 'dtypes', None)  # numpy >= 1.25
    if dtypes_mod is not None:
        for name in dir(dtypes_mod):
            obj = getattr(dtypes_mod, name)
            if (isinstance(obj, type) and issubclass(obj, np.dtype)
                    and obj is not np.dtype):
                classes.add(obj)
    return sorted(classes, key=lambda c: f'{c.__module__}.{c.__qualname__}')


def mmengine_checkpoint_safe_globals() -> List[SafeGlobal]:
    """Globals needed to ``torch.load(..., weights_only=True)`` a training
    checkpoint written by MMEngine's ``CheckpointHook`` / ``Runner``.

    Such a checkpoint pickles, besides tensors and builtins:

    * ``message_hub['log_scalars']``: :class:`mmengine.logging.HistoryBuffer`
      objects, whose state holds numpy arrays (``numpy.ndarray`` rebuilt by
      ``multiarray._reconstruct``, with ``numpy.dtype`` objects of concrete
      dtype classes such as ``numpy.dtypes.Float64DType``) and a
      ``_statistics_methods`` dict of HistoryBuffer methods that pickle
      protocol 2 stores as ``getattr(HistoryBuffer, 'min')``;
    * ``message_hub['runtime_info']['eta']``: a numpy scalar, rebuilt by
      ``multiarray.scalar``.

    ``builtins.getattr`` itself is NOT allow-listed (it would let a file
    fetch any attribute of any allowed object); the name is instead mapped
    to :func:`_history_buffer_getattr`, which only resolves registered
    HistoryBuffer statistics methods. numpy's ``multiarray`` functions are
    listed under both their numpy>=2 (``numpy._core``) and numpy<2
    (``numpy.core``) paths, so checkpoints written with either load.

    The function is self-contained: it imports what it needs when called.
    """
    from mmengine.logging.history_buffer import HistoryBuffer

    multiarray = _numpy_multiarray()
    safe: List[SafeGlobal] = [HistoryBuffer, np.ndarray, np.dtype]
    for name in ('_reconstruct', 'scalar'):
        func = getattr(multiarray, name)
        for module in ('numpy._core.multiarray', 'numpy.core.multiarray'):
            safe.append((func, f'{module}.{name}'))
    safe.extend(_numpy_dtype_classes())
    safe.append((_history_buffer_getattr, 'builtins.getattr'))
    return safe


def _history_buffer_getattr(obj: Any, name: str) -> Callable:
    """Restricted stand-in for ``getattr`` during safe unpickling.

    Only ``getattr(HistoryBuffer, <statistics method>)`` is allowed, which
    is what a pickled ``HistoryBuffer._statistics_methods`` dict needs.
    """
    from mmengine.logging.history_buffer import HistoryBuffer

    # The defaults are put in ``_statistics_methods`` only once a buffer has
    # been created, hence the explicit names.
    allowed = set(_HISTORY_BUFFER_STATISTICS)
    allowed.update(getattr(HistoryBuffer, '_statistics_methods', {}))
    if (isinstance(obj, type) and issubclass(obj, HistoryBuffer)
            and isinstance(name, str) and not name.startswith('_')
            and name in allowed and isinstance(
                inspect.getattr_static(obj, name, None), types.FunctionType)):
        return getattr(obj, name)
    raise pickle.UnpicklingError(
        f'getattr({obj!r}, {name!r}) is not allowed while loading a '
        'checkpoint safely: only HistoryBuffer statistics methods are')


MMENGINE_CHECKPOINT_SAFE_GLOBALS = mmengine_checkpoint_safe_globals()


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


def get_mmvireid_version() -> str:
    """``mmvireid.__version__``, or the one in ``mmvireid/version.py`` next
    to this tool when the package cannot be imported."""
    try:
        import mmvireid
        return str(mmvireid.__version__)
    except Exception:  # noqa: BLE001 - any import problem: use the file
        pass
    version_file = osp.join(
        osp.dirname(osp.dirname(osp.abspath(__file__))), 'mmvireid',
        'version.py')
    spec = importlib.util.spec_from_file_location('_mmvireid_version',
                                                  version_file)
    if spec is None or spec.loader is None:
        raise ImportError(f'cannot read the mmvireid version from '
                          f'{version_file}')
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return str(module.__version__)


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
    meta['mmvireid_version'] = get_mmvireid_version()
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
