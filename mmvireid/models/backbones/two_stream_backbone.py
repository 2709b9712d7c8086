"""Two-stream backbone: one stem per modality, shared deeper stages."""
from contextlib import contextmanager
from copy import deepcopy
from typing import Dict, Iterator, List, Optional, Sequence, Tuple, Union

import torch
import torch.nn as nn
from mmengine.model import BaseModule

from mmvireid.registry import MODELS

MODALITIES = ('visible', 'infrared')


@MODELS.register_module()
class TwoStreamBackbone(BaseModule):
    """Wrap an mmpretrain backbone with a separate stem per modality.

    The usual VI-ReID two-stream design (AGW, ADCA, SALCR): every image goes
    through the stem of its modality, then through stages shared by both
    modalities. The wrapped backbone is built from ``backbone`` and its stem
    is moved into :attr:`stems` (``stems.visible`` and an identical copy,
    ``stems.infrared``); only the remaining stages stay in
    :attr:`backbone`.

    Modality-specific (two copies): the stem, i.e.

    - :class:`mmpretrain.models.ResNet` (and subclasses: ResNetV1c/d,
      ResNeXt, SEResNet): ``conv1``, ``bn1``, ``relu``, ``maxpool`` (or
      ``stem``, ``maxpool`` with ``deep_stem=True``; no ``maxpool`` for
      ``ResNet_CIFAR``), plus ``layer1`` .. ``layer{num_stem_stages}``.
    - :class:`mmpretrain.models.MobileNetV2`: ``conv1`` plus ``layer1`` ..
      ``layer{num_stem_stages}``.

    Shared (one copy, in :attr:`backbone`): every later stage up to
    ``truncate_after``. BatchNorm layers of a stem only see (and only
    track statistics of) their own modality's images.

    Stages are indexed as in the wrapped backbone's ``out_indices``: ResNet
    0..3 = ``layer1..layer4``; MobileNetV2 0..6 = ``layer1..layer7``, 7 =
    ``conv2``. torchvision's ``features[13]`` (end of the third 96-channel
    block, 96 channels, stride 16) is the end of mmpretrain's ``layer5``,
    i.e. ``truncate_after=4`` (torchvision ``features`` 1..17 are the
    blocks of ``layer1..layer7`` = 1, 2, 3, 4, 3, 3, 1 blocks; ``features[0]``
    is ``conv1``, ``features[18]`` is ``conv2``).

    Pretrained weights: put ``init_cfg=dict(type='Pretrained',
    checkpoint=...)`` (URL or local path, the wrapped backbone's key layout)
    in ``backbone``. :meth:`init_weights` initialises the wrapped backbone
    with the visible stem mounted back in place (so the checkpoint's stem
    keys land there), then copies the visible stem's parameters and buffers
    into the infrared stem: both stems start from the same ImageNet
    weights. This module's own ``init_cfg`` (e.g. a ``Pretrained``
    two-stream checkpoint) is applied afterwards.

    Args:
        backbone (dict): Config of an mmpretrain ResNet-family or
            MobileNetV2 backbone, e.g. ``dict(type='mmpretrain.ResNet',
            depth=50, strides=(1, 2, 2, 1), out_indices=(3, ))`` or
            ``dict(type='mmpretrain.MobileNetV2', out_indices=(4, ))``.
            Its ``out_indices`` select the returned stages.
        num_stem_stages (int): Number of leading stages that are also
            modality-specific. Defaults to 0 (stem only).
        truncate_after (int, optional): Index of the last stage kept and
            run; later stages are removed (their checkpoint keys are then
            reported as unexpected by the loader and ignored). Defaults to
            None: all stages are kept and the forward stops after
            ``max(out_indices)``.
        init_cfg (dict or list[dict], optional): Initialisation config of
            the whole two-stream module, applied after the wrapped
            backbone's own. Defaults to None.

    Note:
        In a training step with images of one modality only, the other
        stem receives no gradient (set ``find_unused_parameters=True`` for
        DDP if such batches occur; the SALCR samplers always mix both).
    """

    def __init__(self,
                 backbone: dict,
                 num_stem_stages: int = 0,
                 truncate_after: Optional[int] = None,
                 init_cfg: Optional[Union[dict, List[dict]]] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        self.backbone = MODELS.build(backbone)
        stem_names, stage_names = self._layout(self.backbone)
        num_stages = len(stage_names)
        if not 0 <= num_stem_stages <= num_stages:
            raise ValueError(f'num_stem_stages must be in [0, {num_stages}], '
                             f'got {num_stem_stages}')
        last = num_stages - 1 if truncate_after is None else truncate_after
        if not 0 <= last < num_stages:
            raise ValueError(f'truncate_after must be in [0, {num_stages}), '
                             f'got {truncate_after}')
        if num_stem_stages > last + 1:
            raise ValueError(
                f'num_stem_stages={num_stem_stages} exceeds the '
                f'{last + 1} stages kept (truncate_after={truncate_after})')
        out_indices = tuple(i % num_stages
                            for i in getattr(self.backbone, 'out_indices'))
        if not out_indices or max(out_indices) > last:
            raise ValueError(
                f'out_indices {out_indices} of the backbone must be '
                f'non-empty and <= truncate_after={last}')
        self.num_stem_stages = num_stem_stages
        self.truncate_after = truncate_after
        self.out_indices = out_indices
        # The forward runs stages 0 .. max(out_indices).
        self._last = max(out_indices)
        self._stem_names = list(stem_names) + stage_names[:num_stem_stages]
        self._shared_names = stage_names[num_stem_stages:last + 1]
        self._stage_names = stage_names

        # Move the stem out of the wrapped backbone. Identity placeholders
        # keep the wrapped backbone's attribute access (``train`` /
        # ``_freeze_stages`` / ``norm1``) working; they hold no state.
        visible = nn.ModuleDict()
        for name in self._stem_names:
            visible[name] = getattr(self.backbone, name)
            setattr(self.backbone, name, nn.Identity())
        for name in stage_names[last + 1:]:
            setattr(self.backbone, name, nn.Identity())
        self.stems = nn.ModuleDict(
            dict(visible=visible, infrared=deepcopy(visible)))

    @staticmethod
    def _layout(backbone: nn.Module) -> Tuple[List[str], List[str]]:
        """Names of the stem modules and of the stages, in forward order."""
        from mmpretrain.models import MobileNetV2, ResNet
        from mmpretrain.models.backbones import ResNet_CIFAR
        if isinstance(backbone, ResNet):
            if backbone.deep_stem:
                stem = ['stem']
            else:
                stem = ['conv1', backbone.norm1_name, 'relu']
            if not isinstance(backbone, ResNet_CIFAR):
                stem.append('maxpool')
            return stem, list(backbone.res_layers)
        if isinstance(backbone, MobileNetV2):
            return ['conv1'], list(backbone.layers)
        raise TypeError(
            f'{type(backbone).__name__} is not supported: TwoStreamBackbone '
            'wraps mmpretrain ResNet-family backbones and MobileNetV2')

    @contextmanager
    def _mounted(self, modality: str) -> Iterator[nn.Module]:
        """Temporarily put a modality's stem back into the wrapped backbone.

        Inside the context the wrapped backbone is the complete original
        network (up to ``truncate_after``) for that modality, so its own
        ``init_weights`` / ``train`` / ``_freeze_stages`` apply unchanged.
        """
        stem = self.stems[modality]
        # Restore the very same placeholder objects afterwards (MMEngine's
        # top-level ``init_weights`` tags and untags every submodule).
        placeholders = {
            name: getattr(self.backbone, name)
            for name in self._stem_names
        }
        for name in self._stem_names:
            setattr(self.backbone, name, stem[name])
        try:
            yield self.backbone
        finally:
            for name, placeholder in placeholders.items():
                setattr(self.backbone, name, placeholder)

    def init_weights(self) -> None:
        """Init the wrapped backbone, copy its stem into both modalities.

        A second call only warns (as :class:`~mmengine.model.BaseModule`
        does): it never overwrites a trained infrared stem.
        """
        if self.is_init:
            super().init_weights()
            return
        if not getattr(self.backbone, 'is_init', False):
            with self._mounted('visible'):
                self.backbone.init_weights()
        self.stems['infrared'].load_state_dict(
            self.stems['visible'].state_dict())
        # Applies this module's own init_cfg (children are done).
        super().init_weights()

    def train(self, mode: bool = True) -> 'TwoStreamBackbone':
        """Set train mode, honouring the wrapped backbone's ``frozen_stages``
        and ``norm_eval`` for both stems and the shared stages."""
        super().train(mode)
        for modality in MODALITIES:
            with self._mounted(modality):
                self.backbone.train(mode)
        return self

    def _run_stem(self, modality: str,
                  x: torch.Tensor) -> Dict[int, torch.Tensor]:
        """Stem of one modality; returns ``{stage_index: output}`` for the
        stem stages in ``out_indices`` and, under key -1, the stem output."""
        stem = self.stems[modality]
        num_base = len(self._stem_names) - self.num_stem_stages
        outs = {}
        for pos, name in enumerate(self._stem_names):
            x = stem[name](x)
            stage = pos - num_base
            if stage >= 0 and stage in self.out_indices:
                outs[stage] = x
        outs[-1] = x
        return outs

    def forward(
        self,
        x: torch.Tensor,
        infrared: Optional[Union[torch.Tensor,
                                 Sequence[bool]]] = None) -> tuple:
        """Forward images of mixed modalities.

        Args:
            x (Tensor): Images, ``(N, 3, H, W)``.
            infrared (Tensor or Sequence[bool], optional): ``(N, )`` mask,
                True for infrared images. None means all visible.

        Returns:
            tuple[Tensor]: The stages in ``out_indices``, in the original
            sample order (mmpretrain's tuple-of-stages contract).
        """
        n = x.size(0)
        if infrared is None:
            mask = torch.zeros(n, dtype=torch.bool, device=x.device)
        else:
            mask = torch.as_tensor(
                infrared, device=x.device).to(torch.bool).reshape(-1)
            if mask.numel() != n:
                raise ValueError(f'infrared has {mask.numel()} entries for '
                                 f'{n} images')
        num_ir = int(mask.sum())
        if num_ir == 0 or num_ir == n:
            outs = self._run_stem('infrared' if num_ir else 'visible', x)
        else:
            index = {
                'visible': torch.nonzero(~mask).squeeze(1),
                'infrared': torch.nonzero(mask).squeeze(1)
            }
            parts = {
                m: self._run_stem(m, x.index_select(0, idx))
                for m, idx in index.items()
            }
            outs = {}
            for key, vis in parts['visible'].items():
                ir = parts['infrared'][key]
                merged = vis.new_empty((n, ) + tuple(vis.shape[1:]))
                merged = merged.index_copy(0, index['visible'], vis)
                outs[key] = merged.index_copy(0, index['infrared'], ir)
        x = outs.pop(-1)
        for stage in range(self.num_stem_stages, self._last + 1):
            x = getattr(self.backbone, self._stage_names[stage])(x)
            if stage in self.out_indices:
                outs[stage] = x
        return tuple(outs[i] for i in sorted(outs))
