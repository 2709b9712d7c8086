"""Reading, converting and strictly loading ViT checkpoints.

:class:`~mmvireid.models.backbones.MultiModalViT` loads three key layouts
into mmpretrain's :class:`~mmpretrain.models.VisionTransformer`:

- **mmpretrain** (``layers.N.ln1``, ``patch_embed.projection``; also an
  ``ImageClassifier`` checkpoint, whose ``backbone.`` keys are kept);
- **timm** (``blocks.N.norm1``, ``patch_embed.proj``, ``norm``), the layout
  of the ImageNet ViT-B files (``jx_vit_base_p16_224-80ecf9dd.pth``) and of
  `TransReID-SSL <https://github.com/damo-cv/TransReID-SSL>`_'s LUPerson
  checkpoints (``vit_base_ics_cfs_lup.pth``...): a plain state dict, or
  DINO's training checkpoint ``{'teacher': {'module.backbone.<key>'...}}``
  (its ``head`` is dropped, as TransReID-SSL's ``load_param`` does);
- a **MultiModalViT** checkpoint (``patch_embeds.<name>.*``, ``vit.*``).

:data:`TIMM_TO_MMPRETRAIN` is the renaming; TransReID-SSL's IBN conv stem
(``patch_embed.conv.*``, "ICS") keeps its names and needs
``patch_embed=dict(type='IBNConvPatchEmbed')``. Position embeddings of
another grid are resized with mmpretrain's
:func:`~mmpretrain.models.utils.resize_pos_embed` (:func:`adapt_pos_embed`;
TransReID-SSL's LUP checkpoints have a 16×8 grid, 256×128 images).
Loading is strict: a missing, unexpected or mis-shaped key raises an error
naming the file (:func:`load_strict`), never a silently random ViT.
"""
import math
import os.path as osp
import re
from collections import OrderedDict
from typing import Dict, Optional, Sequence, Tuple

import torch
import torch.nn as nn
from mmengine.logging import print_log
from mmengine.runner.checkpoint import CheckpointLoader
from mmpretrain.models.utils import resize_pos_embed

# Registers mmvireid's weights-only local / HTTP loaders.
from mmvireid.utils import checkpoint_compat  # noqa: F401

#: timm / TransReID-SSL key → mmpretrain ``VisionTransformer`` key (regex,
#: replacement), applied in order, first match wins.
TIMM_TO_MMPRETRAIN: Tuple[Tuple[str, str], ...] = (
    (r'^patch_embed\.proj\.', 'patch_embed.projection.'),
    (r'^blocks\.(\d+)\.norm1\.', r'layers.\1.ln1.'),
    (r'^blocks\.(\d+)\.norm2\.', r'layers.\1.ln2.'),
    (r'^blocks\.(\d+)\.mlp\.fc1\.', r'layers.\1.ffn.layers.0.0.'),
    (r'^blocks\.(\d+)\.mlp\.fc2\.', r'layers.\1.ffn.layers.1.'),
    (r'^blocks\.(\d+)\.attn\.(qkv|proj)\.', r'layers.\1.attn.\2.'),
    (r'^norm\.', 'ln1.'),
)

#: Keys of classifier heads and ReID-training extras that a backbone does
#: not hold (timm ``head``/``pre_logits``, TransReID ``fc``/``sie_embed``/
#: ``gem``, DINO ``head``); dropped by :func:`timm_to_mmpretrain`.
HEAD_KEYS = re.compile(r'^(head|fc|pre_logits|sie_embed|gem)(\.|$)')

# At most this many keys are spelled out per list in an error message.
_SHOWN = 8


def _show(keys: Sequence[str]) -> str:
    keys = list(keys)
    more = f' ... ({len(keys)} in all)' if len(keys) > _SHOWN else ''
    return ', '.join(keys[:_SHOWN]) + more


def _strip(state: Dict[str, torch.Tensor], prefix: str) -> dict:
    return OrderedDict(
        (k[len(prefix):], v) for k, v in state.items() if k.startswith(prefix))


def unwrap_state_dict(checkpoint: dict,
                      prefix: Optional[str] = None) -> Dict[str, torch.Tensor]:
    """The backbone state dict inside a checkpoint file's object.

    Unwraps ``state_dict`` (mmengine, timm), ``model`` (DeiT) and
    ``teacher`` (DINO / TransReID-SSL pre-training), strips ``module.``
    (DDP) and keeps the keys under ``prefix``; without one, the keys under
    ``backbone.`` when there are any (mmpretrain classifiers, DINO).

    Args:
        checkpoint (dict): What ``torch.load`` returned.
        prefix (str, optional): Keep only the keys under this prefix
            (stripped), e.g. ``'backbone.'``.

    Returns:
        dict[str, Tensor]: The state dict.
    """
    state = checkpoint
    for wrapper in ('state_dict', 'model', 'teacher'):
        if isinstance(state, dict) and isinstance(state.get(wrapper), dict):
            state = state[wrapper]
    state = OrderedDict(
        (k[len('module.'):] if k.startswith('module.') else k, v)
        for k, v in state.items())
    if prefix is None and any(k.startswith('backbone.') for k in state):
        prefix = 'backbone.'
    return _strip(state, prefix) if prefix else state


def timm_to_mmpretrain(
        state: Dict[str, torch.Tensor]) -> Dict[str, torch.Tensor]:
    """Rename a timm / TransReID-SSL ViT state dict to mmpretrain's layout.

    ``blocks.N.{norm1,attn.qkv,attn.proj,norm2,mlp.fc1,mlp.fc2}`` become
    ``layers.N.{ln1,attn.qkv,attn.proj,ln2,ffn.layers.0.0,ffn.layers.1}``,
    ``norm`` becomes ``ln1`` and ``patch_embed.proj`` becomes
    ``patch_embed.projection`` (:data:`TIMM_TO_MMPRETRAIN`); ``cls_token``,
    ``pos_embed`` and the ICS stem ``patch_embed.conv.*`` keep their
    names; classifier / ReID-head keys (:data:`HEAD_KEYS`) are dropped.
    The tensors are the same objects (timm's ``qkv`` is one linear layer,
    as mmpretrain's).

    Args:
        state (dict[str, Tensor]): A timm-layout state dict.

    Returns:
        dict[str, Tensor]: The mmpretrain-layout state dict.
    """
    out = OrderedDict()
    for key, value in state.items():
        if HEAD_KEYS.match(key):
            continue
        for pattern, replacement in TIMM_TO_MMPRETRAIN:
            new, hit = re.subn(pattern, replacement, key)
            if hit:
                key = new
                break
        out[key] = value
    return out


def key_layout(state: Dict[str, torch.Tensor]) -> str:
    """``'multi_modal'``, ``'mmpretrain'``, ``'timm'`` or ``'unknown'``."""
    heads = {k.split('.')[0] for k in state}
    if 'patch_embeds' in heads:
        return 'multi_modal'
    if 'layers' in heads:
        return 'mmpretrain'
    if 'blocks' in heads:
        return 'timm'
    return 'unknown'


def read_checkpoint(filename: str,
                    config_key: str = 'init_cfg.checkpoint') -> dict:
    """Load a checkpoint file (local path, URL or registered scheme).

    Args:
        filename (str): Path, ``http(s)://`` URL or another scheme of
            mmengine's :class:`~mmengine.runner.CheckpointLoader`.
        config_key (str): The config key that named the file (in errors).

    Returns:
        dict: The loaded object (on the CPU).

    Raises:
        FileNotFoundError: A local file that does not exist.
        RuntimeError: Any failure to read or download it, naming it.
    """
    if '://' not in filename and not osp.isfile(filename):
        raise FileNotFoundError(
            f'ViT checkpoint {filename!r} (set by {config_key}) does not '
            'exist: download it (ImageNet ViT-B/16, or TransReID-SSL '
            "'vit_base_ics_cfs_lup.pth') and point the key at it, or set "
            'init_cfg=None for random weights')
    try:
        return CheckpointLoader.load_checkpoint(filename, map_location='cpu')
    except Exception as err:  # the loader's own message is kept below
        raise RuntimeError(f'cannot read the ViT checkpoint {filename!r} '
                           f'(set by {config_key}): {err}') from err


def infer_grid(num_patches: int, filename: str) -> Tuple[int, int]:
    """The (H, W) patch grid of a checkpoint's position embedding.

    A square grid when ``num_patches`` is a square (ImageNet ViTs, timm's
    and mmpretrain's assumption), else the 2:1 person grid ``(2w, w)``
    (TransReID-SSL / LUPerson, 256×128 images), else an error.
    """
    side = math.isqrt(num_patches)
    if side * side == num_patches:
        return side, side
    half = math.isqrt(num_patches // 2)
    if 2 * half * half == num_patches:
        return 2 * half, half
    raise ValueError(
        f'{filename}: cannot tell the patch grid of its pos_embed '
        f'({num_patches} patch positions, neither square nor 2:1); give it '
        'as pos_embed_grid=(H, W) in the backbone init_cfg')


def adapt_pos_embed(state: Dict[str, torch.Tensor],
                    vit: nn.Module,
                    filename: str,
                    grid: Optional[Sequence[int]] = None) -> Optional[tuple]:
    """Resize ``state['pos_embed']`` (in place) to ``vit``'s patch grid.

    The checkpoint's grid is ``grid`` or :func:`infer_grid`'s; a class
    token position the model does not use is dropped (with the
    ``cls_token``). Interpolation: the ViT's ``interpolate_mode``.

    Args:
        state (dict[str, Tensor]): mmpretrain-layout state dict.
        vit (VisionTransformer): The model it is loaded into.
        filename (str): The checkpoint's name (in errors and the log).
        grid (Sequence[int], optional): The checkpoint's (H, W) grid.

    Returns:
        tuple, optional: ``(src_grid, dst_grid)`` if resized, else None.
    """
    pos = state.get('pos_embed')
    if pos is None or pos.dim() != 3:
        return None
    extra = vit.num_extra_tokens
    src_extra = 1 if 'cls_token' in state else 0
    if vit.cls_token is None and src_extra:
        pos = pos[:, src_extra:]
        state.pop('cls_token')
        src_extra = 0
    if src_extra != extra:
        return None  # load_strict reports the shape mismatch
    dst_grid = tuple(vit.patch_resolution)
    if grid is None:
        if pos.shape[1] == vit.pos_embed.shape[1]:
            state['pos_embed'] = pos
            return None
        grid = infer_grid(pos.shape[1] - extra, filename)
    src_grid = tuple(int(g) for g in grid)
    if src_grid[0] * src_grid[1] + extra != pos.shape[1]:
        raise ValueError(
            f'{filename}: pos_embed has {pos.shape[1]} positions, not '
            f'{src_grid[0]}x{src_grid[1]} + {extra} (pos_embed_grid)')
    state['pos_embed'] = resize_pos_embed(pos, src_grid, dst_grid,
                                          vit.interpolate_mode, extra)
    return (src_grid, dst_grid) if src_grid != dst_grid else None


def load_strict(module: nn.Module,
                state: Dict[str, torch.Tensor],
                filename: str,
                strict: bool = True) -> None:
    """``module.load_state_dict`` that names the file and every bad key.

    Args:
        module (nn.Module): Target.
        state (dict[str, Tensor]): Its state dict, in its layout.
        filename (str): The checkpoint's name (in the error).
        strict (bool): Raise on missing / unexpected keys (shape mismatches
            always raise); False only logs them as a warning.

    Raises:
        ValueError: Missing, unexpected or mis-shaped keys.
    """
    own = module.state_dict()
    missing = [k for k in own if k not in state]
    unexpected = [k for k in state if k not in own]
    shapes = [
        f'{k} {tuple(v.shape)} (model {tuple(own[k].shape)})'
        for k, v in state.items() if k in own and v.shape != own[k].shape
    ]
    problems = []
    if shapes:
        problems.append(f'shape mismatch: {_show(shapes)}')
    if missing:
        problems.append(f'missing keys: {_show(missing)}')
    if unexpected:
        problems.append(f'unexpected keys: {_show(unexpected)}')
    if problems:
        message = (f'{filename} does not fit {type(module).__name__} '
                   f'(layout {key_layout(state)!r}): ' + '; '.join(problems))
        if shapes or strict:
            raise ValueError(message + ' (check the arch / patch_embed of '
                             'the config, or pass strict=False in init_cfg '
                             'to accept missing/unexpected keys)')
        print_log(message, logger='current', level=30)
    module.load_state_dict({
        k: v
        for k, v in state.items() if k in own
    },
                           strict=False)
