"""Vision Transformer with one patch embedding per modality."""
from contextlib import contextmanager
from copy import deepcopy
from typing import Dict, Iterator, List, Optional, Sequence, Tuple, Union

import torch
import torch.nn as nn
from mmengine.logging import print_log
from mmengine.model import BaseModule
from mmpretrain.models.utils import resize_pos_embed

from mmvireid.registry import MODELS
from .stem_table import (DEFAULT_STEMS, check_stem_table, distinct_stems,
                         stem_indices)
from .vit_checkpoint import (adapt_pos_embed, key_layout, load_strict,
                             read_checkpoint, timm_to_mmpretrain,
                             unwrap_state_dict)

#: ViT-B/16 at the person-ReID size 384×128 (a 24×8 patch grid).
DEFAULT_VIT = dict(
    type='mmpretrain.VisionTransformer',
    arch='base',
    img_size=(384, 128),
    patch_size=16,
    drop_path_rate=0.1)


@MODELS.register_module()
class MultiModalViT(BaseModule):
    """mmpretrain ``VisionTransformer`` with a patch embedding per modality.

    The ViT counterpart of :class:`MultiStreamBackbone` (SDCL, MCF): every
    image is embedded by the patch embedding of its modality, then the
    class token, position embeddings and transformer layers of one
    :class:`~mmpretrain.models.VisionTransformer` are shared. ``stems``
    maps modality name → embedding name; the embeddings are its distinct
    values, so ``dict(visible='visible', infrared='infrared',
    augmented='visible')`` keeps two and embeds the channel-augmented view
    with the visible one (``augmented='augmented'`` gives it its own).
    State-dict keys: ``patch_embeds.<name>.*`` and ``vit.*``.

    Output: for each of the ViT's ``out_indices``, the patch tokens as a
    map ``(B, C, H, W)`` (``H, W`` = image size / patch size: 24×8 at
    384×128), in sample order, as mmpretrain's tuple of stages, so
    :class:`~mmvireid.models.ReIDer`'s neck pools the last one. The class
    token is a transformer input as in pre-training, but its output is
    dropped unless ``output_cls_token=True``: each stage is then the pair
    ``(map, cls (B, C))`` (mmseg's convention), for heads that read it;
    ReIDer's neck expects the default.

    Pretrained weights: ``init_cfg=dict(type='Pretrained',
    checkpoint=PATH_OR_URL)`` on this module (not on ``vit``), a plain ViT
    checkpoint in mmpretrain, timm or TransReID-SSL layout, or a
    MultiModalViT one (:mod:`~mmvireid.models.backbones.vit_checkpoint`).
    Optional keys: ``prefix`` (keep the keys under it), ``pos_embed_grid``
    (the checkpoint's (H, W) patch grid when not square or 2:1) and
    ``strict`` (default True: a missing, unexpected or mis-shaped key is
    an error naming the file). Position embeddings of another grid (224²
    ImageNet 14×14, LUP 16×8) are resized to this one. :meth:`init_weights`
    loads the checkpoint with the first embedding in place and copies it
    into every other embedding.

    Args:
        vit (dict, optional): Config of an mmpretrain ``VisionTransformer``
            (``out_type`` must be ``'featmap'``, the default here).
            Defaults to :data:`DEFAULT_VIT` (ViT-B/16, 384×128).
        stems (dict[str, str], optional): Modality name → patch-embedding
            name; the first distinct value receives the pretrained one.
            Defaults to ``dict(visible='visible', infrared='infrared')``.
        patch_embed (dict, optional): Replaces the ViT's patch embedding,
            e.g. ``dict(type='IBNConvPatchEmbed')`` for TransReID-SSL's ICS
            checkpoints; ``embed_dims``, ``patch_size``, ``in_channels`` and
            ``input_size`` default to the ViT's. Defaults to None.
        output_cls_token (bool): Return ``(map, cls)`` per stage.
            Defaults to False.
        init_cfg (dict or list[dict], optional): Initialisation config;
            see above for ``Pretrained``. Defaults to None.
    """

    #: :meth:`forward` takes the per-image modality names (see ReIDer).
    takes_modalities = True

    def __init__(self,
                 vit: Optional[dict] = None,
                 stems: Optional[Dict[str, str]] = None,
                 patch_embed: Optional[dict] = None,
                 output_cls_token: bool = False,
                 init_cfg: Optional[Union[dict, List[dict]]] = None) -> None:
        pretrained, init_cfg = self._split_pretrained(init_cfg)
        super().__init__(init_cfg=init_cfg)
        self.pretrained = pretrained
        self.stem_table = check_stem_table(
            DEFAULT_STEMS if stems is None else stems)
        self.stem_names = distinct_stems(self.stem_table)
        self.output_cls_token = output_cls_token
        self.vit = MODELS.build(self._check_vit_cfg(vit))
        self._check_vit(self.vit)
        if output_cls_token and self.vit.cls_token is None:
            raise ValueError('MultiModalViT: output_cls_token=True needs a '
                             'ViT with a class token (vit.with_cls_token)')
        first = self.vit.patch_embed
        if patch_embed is not None:
            first = self._build_patch_embed(patch_embed, vit or DEFAULT_VIT)
        # The embedding leaves the ViT; an Identity keeps attribute access
        # (``_freeze_stages``) working and holds no state.
        self.vit.patch_embed = nn.Identity()
        self.patch_embeds = nn.ModuleDict({
            name:
            first if i == 0 else deepcopy(first)
            for i, name in enumerate(self.stem_names)
        })

    @staticmethod
    def _split_pretrained(init_cfg) -> Tuple[Optional[dict], object]:
        """Take the ``Pretrained`` entry out of ``init_cfg`` (loaded by
        :meth:`init_weights`, not by mmengine's non-strict loader)."""
        cfgs = init_cfg if isinstance(init_cfg, list) else [init_cfg]
        pretrained = [c for c in cfgs if c and c.get('type') == 'Pretrained']
        if len(pretrained) > 1:
            raise ValueError('MultiModalViT: init_cfg has more than one '
                             f'Pretrained entry: {pretrained}')
        if not pretrained:
            return None, init_cfg
        cfg = dict(pretrained[0])
        allowed = {'type', 'checkpoint', 'prefix', 'pos_embed_grid', 'strict'}
        if 'checkpoint' not in cfg or set(cfg) - allowed:
            raise ValueError(
                'MultiModalViT: init_cfg Pretrained takes checkpoint and '
                f'optionally prefix, pos_embed_grid, strict; got {cfg}')
        rest = [c for c in cfgs if c and c.get('type') != 'Pretrained']
        return cfg, (rest or None)

    @staticmethod
    def _check_vit_cfg(vit: Optional[dict]) -> dict:
        cfg = dict(DEFAULT_VIT if vit is None else vit)
        out_type = cfg.setdefault('out_type', 'featmap')
        if out_type != 'featmap':
            raise ValueError("MultiModalViT: vit.out_type must be 'featmap' "
                             f'(the patch-token map), got {out_type!r}')
        init = cfg.get('init_cfg')
        if isinstance(init, dict) and init.get('type') == 'Pretrained':
            raise ValueError(
                'MultiModalViT: put the Pretrained init_cfg on the '
                'MultiModalViT (backbone.init_cfg), not on backbone.vit: '
                'the ViT alone would load it non-strictly and without its '
                'patch embedding')
        return cfg

    @staticmethod
    def _check_vit(vit: nn.Module) -> None:
        from mmpretrain.models import VisionTransformer
        if not isinstance(vit, VisionTransformer) or hasattr(
                vit, 'dist_token'):
            raise TypeError(f'MultiModalViT wraps mmpretrain\'s '
                            f'VisionTransformer, got {type(vit).__name__}')

    def _build_patch_embed(self, cfg: dict, vit_cfg: dict) -> nn.Module:
        cfg = dict(cfg)
        cfg.setdefault('embed_dims', self.vit.embed_dims)
        cfg.setdefault('patch_size', vit_cfg.get('patch_size', 16))
        cfg.setdefault('in_channels', vit_cfg.get('in_channels', 3))
        cfg.setdefault('input_size', self.vit.img_size)
        embed = MODELS.build(cfg)
        grid = tuple(getattr(embed, 'init_out_size', ()))
        if grid != tuple(self.vit.patch_resolution):
            raise ValueError(
                f'MultiModalViT: patch_embed {cfg["type"]} gives the grid '
                f'{grid}, the ViT expects {tuple(self.vit.patch_resolution)}')
        return embed

    @property
    def modalities(self) -> Tuple[str, ...]:
        """tuple[str]: The modality names of the table, in order."""
        return tuple(self.stem_table)

    @contextmanager
    def _mounted(self, name: str) -> Iterator[nn.Module]:
        """The complete ViT with embedding ``name`` as its patch_embed."""
        placeholder = self.vit.patch_embed
        self.vit.patch_embed = self.patch_embeds[name]
        try:
            yield self.vit
        finally:
            self.vit.patch_embed = placeholder

    def init_weights(self) -> None:
        """Init the ViT, load the ``Pretrained`` checkpoint strictly (with
        the first embedding mounted), copy it into every embedding.

        Raises:
            FileNotFoundError: The checkpoint file does not exist.
            ValueError: Its keys or shapes do not fit.
        """
        if self.is_init:
            super().init_weights()  # only warns
            return
        first, *others = self.stem_names
        copy = True
        with self._mounted(first) as vit:
            if not getattr(vit, 'is_init', False):
                vit.init_weights()
            if self.pretrained is not None:
                copy = self._load_pretrained(vit)
        state = self.patch_embeds[first].state_dict()
        for name in others if copy else ():
            self.patch_embeds[name].load_state_dict(state)
        super().init_weights()  # this module's other init_cfg entries

    def _load_pretrained(self, vit: nn.Module) -> bool:
        """Load the Pretrained checkpoint; True: a plain-ViT one (its
        patch embedding is then copied into every embedding)."""
        cfg = self.pretrained
        filename = cfg['checkpoint']
        checkpoint = read_checkpoint(filename,
                                     'model.backbone.init_cfg.checkpoint')
        meta = checkpoint.get('meta') if isinstance(checkpoint, dict) else None
        # the grid of a non-square pos_embed: config, else the converter's
        grid = cfg.get('pos_embed_grid') or (meta or {}).get('pos_embed_grid')
        state = unwrap_state_dict(checkpoint, cfg.get('prefix'))
        layout = key_layout(state)
        strict = cfg.get('strict', True)
        if layout == 'multi_modal':
            self.vit.patch_embed = nn.Identity()  # not a key of self
            try:
                load_strict(self, state, filename, strict)
            finally:
                self.vit.patch_embed = self.patch_embeds[self.stem_names[0]]
            return False
        if layout == 'timm':
            state = timm_to_mmpretrain(state)
        resized = adapt_pos_embed(state, vit, filename, grid)
        load_strict(vit, state, filename, strict)
        print_log(
            f'MultiModalViT: loaded {len(state)} tensors of {filename} '
            f'({layout} layout)' +
            (f', pos_embed grid {resized[0]} -> {resized[1]}'
             if resized else ''),
            logger='current')
        return True

    def stem_indices(self, modalities: Sequence[str]) -> List[int]:
        """Index into :attr:`stem_names` of each image's embedding
        (:func:`~.stem_table.stem_indices`)."""
        return stem_indices(self.stem_table, modalities)

    def _embed(
            self, x: torch.Tensor,
            modalities: Optional[Sequence[str]]) -> Tuple[torch.Tensor, tuple]:
        """Patch tokens ``(N, L, C)`` of each image by its modality's
        embedding, in sample order, and the grid."""
        n = x.size(0)
        ids = [0] * n if modalities is None else self.stem_indices(modalities)
        if len(ids) != n:
            raise ValueError(f'modalities has {len(ids)} entries for {n} '
                             'images')
        used = sorted(set(ids))
        if len(used) <= 1:
            return self.patch_embeds[self.stem_names[used[0] if used else 0]](
                x)
        ids = torch.as_tensor(ids)  # rows planned on the host
        tokens, hw = None, None
        for i in used:
            rows = torch.nonzero(ids == i).squeeze(1).to(x.device)
            part, hw = self.patch_embeds[self.stem_names[i]](
                x.index_select(0, rows))
            if tokens is None:
                tokens = part.new_empty((n, ) + tuple(part.shape[1:]))
            tokens = tokens.index_copy(0, rows, part)
        return tokens, hw

    def forward(self,
                x: torch.Tensor,
                modalities: Optional[Sequence[str]] = None) -> tuple:
        """Forward images of mixed modalities.

        Args:
            x (Tensor): Images ``(N, 3, H, W)``, ``H`` and ``W`` multiples
                of the patch size (the position embeddings are resized to
                other grids than the configured one).
            modalities (Sequence[str], optional): ``N`` modality names, keys
                of the stem table. None: all through the first embedding.

        Returns:
            tuple: Per ``out_indices`` stage, the map ``(N, C, H/p, W/p)``
            (or ``(map, cls)`` with ``output_cls_token``), in sample order.
        """
        vit = self.vit
        x, hw = self._embed(x, modalities)
        if vit.cls_token is not None:
            x = torch.cat([vit.cls_token.expand(x.size(0), -1, -1), x], 1)
        x = x + resize_pos_embed(
            vit.pos_embed,
            vit.patch_resolution,
            hw,
            mode=vit.interpolate_mode,
            num_extra_tokens=vit.num_extra_tokens)
        x = vit.pre_norm(vit.drop_after_pos(x))
        outs = []
        for i, layer in enumerate(vit.layers):
            x = layer(x)
            if i == len(vit.layers) - 1 and vit.final_norm:
                x = vit.ln1(x)
            if i in vit.out_indices:
                patches = x[:, vit.num_extra_tokens:]
                fmap = patches.reshape(x.size(0), *hw, -1).permute(0, 3, 1, 2)
                outs.append((fmap, x[:, 0]) if self.output_cls_token
                            and vit.cls_token is not None else fmap)
        return tuple(outs)
