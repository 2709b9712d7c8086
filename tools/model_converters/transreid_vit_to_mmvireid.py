"""Convert a timm / TransReID-SSL ViT checkpoint to mmpretrain's layout.

`TransReID-SSL <https://github.com/damo-cv/TransReID-SSL>`_'s LUPerson
weights (``vit_base_ics_cfs_lup.pth``, ``vit_small_cfs_lup.pth``...) and
timm's ImageNet ViTs use timm's key names (``blocks.N.norm1``,
``patch_embed.proj``, ``norm``); DINO training files wrap them as
``{'teacher': {'module.backbone.<key>': ...}}``. This script writes them in
mmpretrain ``VisionTransformer``'s layout (the renaming is
:data:`mmvireid.models.backbones.vit_checkpoint.TIMM_TO_MMPRETRAIN`;
classifier / DINO heads are dropped) with the patch grid of the position
embedding in ``meta['pos_embed_grid']`` (16×8 for LUP's 256×128 images), so
that ``MultiModalViT(init_cfg=dict(type='Pretrained', checkpoint=OUT))``
resizes it correctly. ``MultiModalViT`` also loads the original file
directly (same conversion, in memory); converting once saves the renaming
and documents the grid. An ICS file (``patch_embed.conv.*`` keys) needs
``patch_embed=dict(type='IBNConvPatchEmbed')`` in the backbone config.

Usage::

    python tools/model_converters/transreid_vit_to_mmvireid.py SRC OUT \
        [--pos-embed-grid H W]
"""
import argparse
import os
import os.path as osp
import tempfile
from typing import List, Optional

import torch

from mmvireid.models.backbones.vit_checkpoint import (infer_grid, key_layout,
                                                      read_checkpoint,
                                                      timm_to_mmpretrain,
                                                      unwrap_state_dict)


def convert_file(src: str,
                 out: str,
                 pos_embed_grid: Optional[List[int]] = None) -> dict:
    """Convert ``src`` and save ``{'state_dict', 'meta'}`` to ``out``.

    Returns:
        dict: The ``meta`` written (``pos_embed_grid``, ``ics``, ``source``).

    Raises:
        ValueError: ``src`` is not a timm-layout ViT (named in the error).
    """
    state = unwrap_state_dict(read_checkpoint(src, 'SRC'))
    if key_layout(state) != 'timm':
        raise ValueError(f'{src}: not a timm / TransReID-SSL ViT state dict '
                         f'(layout {key_layout(state)!r}; first keys: '
                         f'{list(state)[:4]})')
    converted = timm_to_mmpretrain(state)
    pos = converted.get('pos_embed')
    if pos_embed_grid is None and pos is not None:
        extra = 1 if 'cls_token' in converted else 0
        pos_embed_grid = list(infer_grid(pos.shape[1] - extra, src))
    meta = dict(
        source=osp.abspath(src) if osp.exists(src) else src,
        converter='tools/model_converters/transreid_vit_to_mmvireid.py',
        layout='mmpretrain.VisionTransformer',
        pos_embed_grid=pos_embed_grid,
        ics=any(k.startswith('patch_embed.conv.') for k in converted))
    out_dir = osp.dirname(osp.abspath(out))
    os.makedirs(out_dir, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=out_dir, suffix='.tmp')
    try:
        with os.fdopen(fd, 'wb') as f:
            torch.save(dict(state_dict=converted, meta=meta), f)
        os.replace(tmp, out)  # never a half-written OUT
    finally:
        if osp.exists(tmp):
            os.remove(tmp)
    return meta


def main(argv: Optional[List[str]] = None) -> None:
    parser = argparse.ArgumentParser(
        description='Convert a timm / TransReID-SSL ViT checkpoint into '
        'mmpretrain VisionTransformer keys for MultiModalViT.')
    parser.add_argument('src', help='source checkpoint (path or URL)')
    parser.add_argument('out', help='output checkpoint path')
    parser.add_argument(
        '--pos-embed-grid',
        type=int,
        nargs=2,
        metavar=('H', 'W'),
        help='patch grid of the source pos_embed (default: square, else 2:1)')
    args = parser.parse_args(argv)
    meta = convert_file(args.src, args.out, args.pos_embed_grid)
    print(f'wrote {args.out}: pos_embed grid {meta["pos_embed_grid"]}, '
          f'ICS stem: {meta["ics"]}')


if __name__ == '__main__':
    main()
