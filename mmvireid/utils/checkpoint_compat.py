"""Loading of MMEngine checkpoints under ``torch.load(weights_only=True)``.

Since torch 2.6, ``torch.load`` defaults to ``weights_only=True``, which
refuses MMEngine's own training checkpoints: their ``message_hub`` holds
:class:`mmengine.logging.HistoryBuffer` objects and numpy arrays and
scalars. mmengine 0.10.7 calls ``torch.load`` without arguments, so
``--resume`` fails. Instead of turning the safety off, mmvireid replaces
mmengine's local-file and HTTP checkpoint loaders with ones that keep
``weights_only=True`` and allow exactly these extra, data-only types
(:data:`MMENGINE_CHECKPOINT_SAFE_GLOBALS`). Third-party weight files
(ImageNet backbones, ``load_from``) therefore still load with
``weights_only=True``.
"""
import inspect
import pickle
import types
from typing import Callable, List, Optional

import numpy as np
import torch
from mmengine.logging import HistoryBuffer
from mmengine.runner import CheckpointLoader
from mmengine.runner.checkpoint import load_from_http, load_from_local

try:  # numpy >= 2
    from numpy._core import multiarray
except ImportError:  # numpy 1.x
    from numpy.core import multiarray

# Statistics methods HistoryBuffer registers for itself (others may be added
# with ``HistoryBuffer.register_statistics``).
HISTORY_BUFFER_STATISTICS = ('min', 'max', 'current', 'mean')


def _numpy_dtype_classes() -> List[type]:
    """Every concrete numpy dtype class (``numpy.dtypes.Float64DType``...)."""
    return sorted({type(np.dtype(code))
                   for code in np.typecodes['All']},
                  key=lambda cls: cls.__name__)


def history_buffer_method(owner: type, name: str) -> Callable:
    """Restricted stand-in for ``getattr`` while unpickling a checkpoint.

    A pickled ``HistoryBuffer`` stores its statistics methods (``min``,
    ``mean``...) as ``getattr(HistoryBuffer, name)``. Allowing the real
    ``getattr`` would let a crafted file reach arbitrary attributes, so the
    unpickler gets this function instead: it resolves HistoryBuffer's
    registered statistics methods and refuses everything else.

    Args:
        owner (type): The object the pickle asks an attribute of.
        name (str): The attribute name.

    Returns:
        Callable: ``HistoryBuffer.<name>``.
    """
    allowed = set(HISTORY_BUFFER_STATISTICS)
    allowed.update(HistoryBuffer._statistics_methods)
    if owner is HistoryBuffer and isinstance(name, str) and name in allowed \
            and isinstance(inspect.getattr_static(owner, name, None),
                           types.FunctionType):
        return getattr(owner, name)
    raise pickle.UnpicklingError(
        f'checkpoint asks for attribute {name!r} of {owner!r}; only '
        'the statistics methods of mmengine HistoryBuffer may be loaded')


# numpy's reconstruction functions are listed under their numpy >= 2 and
# numpy 1.x module paths, so checkpoints written with either load.
MMENGINE_CHECKPOINT_SAFE_GLOBALS: List = [
    HistoryBuffer, np.ndarray, np.dtype, *_numpy_dtype_classes(),
    *[(getattr(multiarray, name), f'{module}.multiarray.{name}')
      for name in ('_reconstruct', 'scalar')
      for module in ('numpy._core', 'numpy.core')],
    (history_buffer_method, 'builtins.getattr'),
    (history_buffer_method, '__builtin__.getattr')
]


def load_checkpoint_file(filename: str,
                         map_location: Optional[str] = None) -> dict:
    """``torch.load`` a local MMEngine checkpoint with weights only.

    Args:
        filename (str): Path of the checkpoint.
        map_location (str, optional): As in :func:`torch.load`.

    Returns:
        dict: The checkpoint.
    """
    with torch.serialization.safe_globals(MMENGINE_CHECKPOINT_SAFE_GLOBALS):
        return load_from_local(filename, map_location)


def _with_safe_globals(loader: Callable) -> Callable:

    def load(filename, map_location=None, *args, **kwargs):
        with torch.serialization.safe_globals(
                MMENGINE_CHECKPOINT_SAFE_GLOBALS):
            return loader(filename, map_location, *args, **kwargs)

    load.__doc__ = f'{loader.__name__} with MMEngine-safe globals allowed.'
    return load


CheckpointLoader.register_scheme(
    prefixes='', loader=load_checkpoint_file, force=True)
CheckpointLoader.register_scheme(
    prefixes=('http://', 'https://'),
    loader=_with_safe_globals(load_from_http),
    force=True)
