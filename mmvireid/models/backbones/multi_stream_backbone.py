"""Multi-stream backbone: one stem per stream, shared deeper stages."""
from contextlib import contextmanager
from copy import deepcopy
from typing import Dict, Iterator, List, Optional, Sequence, Tuple, Union

import torch
import torch.nn as nn
from mmengine.model import BaseModule

from mmvireid.registry import MODELS
from .stem_table import (DEFAULT_STEMS, check_stem_table, distinct_stems,
                         stem_indices)


@MODELS.register_module(name=['MultiStreamBackbone', 'TwoStreamBackbone'])
class MultiStreamBackbone(BaseModule):
    """Wrap an mmpretrain backbone with a separate stem per stream.

    The usual VI-ReID multi-stream design (AGW, ADCA, SALCR, MCF): every
    image goes through the stem of its modality, then through stages
    shared by all modalities. Which stem a modality uses is the config
    table ``stems`` (modality name → stem name); the stems are its
    distinct values, e.g. ``dict(visible='visible', infrared='infrared',
    augmented='visible')`` keeps two stems and runs the channel-augmented
    visible view through the visible one, while ``augmented='augmented'``
    gives it a third stem of its own. The wrapped backbone is built from
    ``backbone`` and its stem is moved into :attr:`stems` (under the first
    stem name of the table; every other stem is an identical copy); only
    the remaining stages stay in :attr:`backbone`. Registered as
    ``MultiStreamBackbone`` and, for the existing configs, as
    ``TwoStreamBackbone``; the default table gives the state-dict keys of
    the former two-stream backbone (``stems.visible.*``,
    ``stems.infrared.*``).

    Stream-specific (one copy per stem): the stem, i.e.

    - :class:`mmpretrain.models.ResNet` (and subclasses: ResNetV1c/d,
      ResNeXt, SEResNet): ``conv1``, ``bn1``, ``relu``, ``maxpool`` (or
      ``stem``, ``maxpool`` with ``deep_stem=True``; no ``maxpool`` for
      ``ResNet_CIFAR``), plus ``layer1`` .. ``layer{num_stem_stages}``.
    - :class:`mmpretrain.models.MobileNetV2`: ``conv1`` plus ``layer1`` ..
      ``layer{num_stem_stages}``.

    Shared (one copy, in :attr:`backbone`): every later stage up to
    ``truncate_after``. BatchNorm layers of a stem only see (and only
    track statistics of) the images of the modalities mapped to it.

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
    with the first stem mounted back in place (so the checkpoint's stem
    keys land there), then copies that stem's parameters and buffers into
    every other stem: all stems start from the same ImageNet weights. This
    module's own ``init_cfg`` (e.g. a ``Pretrained`` multi-stream
    checkpoint) is applied afterwards.

    A model passes the per-image modality names to :meth:`forward` when
    its backbone declares :attr:`takes_modalities` (see
    :class:`~mmvireid.models.ReIDer`).

    Args:
        backbone (dict): Config of an mmpretrain ResNet-family or
            MobileNetV2 backbone, e.g. ``dict(type='mmpretrain.ResNet',
            depth=50, strides=(1, 2, 2, 1), out_indices=(3, ))`` or
            ``dict(type='mmpretrain.MobileNetV2', out_indices=(4, ))``.
            Its ``out_indices`` select the returned stages.
        stems (dict[str, str], optional): Modality name → stem name. The
            stems are the distinct values, in order of first appearance;
            the first one receives the wrapped backbone's (pretrained)
            stem. Defaults to None: ``dict(visible='visible',
            infrared='infrared')``.
        num_stem_stages (int): Number of leading stages that are also
            stream-specific. Defaults to 0 (stem only).
        truncate_after (int, optional): Index of the last stage kept and
            run; later stages are removed (their checkpoint keys are then
            reported as unexpected by the loader and ignored). Defaults to
            None: all stages are kept and the forward stops after
            ``max(out_indices)``.
        init_cfg (dict or list[dict], optional): Initialisation config of
            the whole multi-stream module, applied after the wrapped
            backbone's own. Defaults to None.

    Note:
        In a training step without images of some stem, that stem
        receives no gradient (set ``find_unused_parameters=True`` for DDP
        if such batches occur; the SALCR samplers always mix both
        modalities).
    """

    #: Declared capability: :meth:`forward` takes the per-image modality
    #: names as ``modalities``. :class:`~mmvireid.models.ReIDer` reads
    #: them from the data samples (``sample.modality``) for a backbone
    #: that sets this to True.
    takes_modalities = True

    def __init__(self,
                 backbone: dict,
                 stems: Optional[Dict[str, str]] = None,
                 num_stem_stages: int = 0,
                 truncate_after: Optional[int] = None,
                 init_cfg: Optional[Union[dict, List[dict]]] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        if stems is None:
            stems = DEFAULT_STEMS
        self.stem_table = check_stem_table(stems)
        # Distinct stem names, in order of first appearance in the table.
        self.stem_names = distinct_stems(self.stem_table)
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
        first = nn.ModuleDict()
        for name in self._stem_names:
            first[name] = getattr(self.backbone, name)
            setattr(self.backbone, name, nn.Identity())
        for name in stage_names[last + 1:]:
            setattr(self.backbone, name, nn.Identity())
        self.stems = nn.ModuleDict({
            stem: first if i == 0 else deepcopy(first)
            for i, stem in enumerate(self.stem_names)
        })

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
            f'{type(backbone).__name__} is not supported: MultiStreamBackbone '
            'wraps mmpretrain ResNet-family backbones and MobileNetV2')

    @property
    def modalities(self) -> Tuple[str, ...]:
        """tuple[str]: The modality names of the stem table, in order."""
        return tuple(self.stem_table)

    @contextmanager
    def _mounted(self, stem_name: str) -> Iterator[nn.Module]:
        """Temporarily put a stem back into the wrapped backbone.

        Inside the context the wrapped backbone is the complete original
        network (up to ``truncate_after``) for that stem, so its own
        ``init_weights`` / ``train`` / ``_freeze_stages`` apply unchanged.
        """
        stem = self.stems[stem_name]
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
        """Init the wrapped backbone, copy its stem into every stem.

        A second call only warns (as :class:`~mmengine.model.BaseModule`
        does): it never overwrites a trained stem.
        """
        if self.is_init:
            super().init_weights()
            return
        first, *others = self.stem_names
        if not getattr(self.backbone, 'is_init', False):
            with self._mounted(first):
                self.backbone.init_weights()
        state = self.stems[first].state_dict()
        for stem in others:
            self.stems[stem].load_state_dict(state)
        # Applies this module's own init_cfg (children are done).
        super().init_weights()

    def train(self, mode: bool = True) -> 'MultiStreamBackbone':
        """Set train mode, honouring the wrapped backbone's ``frozen_stages``
        and ``norm_eval`` for every stem and the shared stages."""
        super().train(mode)
        for stem in self.stem_names:
            with self._mounted(stem):
                self.backbone.train(mode)
        return self

    def _run_stem(self, stem_name: str,
                  x: torch.Tensor) -> Dict[int, torch.Tensor]:
        """Run one stem; returns ``{stage_index: output}`` for the stem
        stages in ``out_indices`` and, under key -1, the stem output."""
        stem = self.stems[stem_name]
        num_base = len(self._stem_names) - self.num_stem_stages
        outs = {}
        for pos, name in enumerate(self._stem_names):
            x = stem[name](x)
            stage = pos - num_base
            if stage >= 0 and stage in self.out_indices:
                outs[stage] = x
        outs[-1] = x
        return outs

    def stem_indices(self, modalities: Sequence[str]) -> List[int]:
        """Index into :attr:`stem_names` of each image's stem
        (:func:`~.stem_table.stem_indices`)."""
        return stem_indices(self.stem_table, modalities)

    def forward(self,
                x: torch.Tensor,
                modalities: Optional[Sequence[str]] = None) -> tuple:
        """Forward images of mixed modalities.

        Images are grouped by stem; each stem runs on its images (in
        sample order) and the outputs are scattered back into the original
        order before the shared stages run on the whole batch. A batch
        whose images all use one stem runs through it without regrouping.

        Args:
            x (Tensor): Images, ``(N, 3, H, W)``.
            modalities (Sequence[str], optional): ``N`` modality names, one
                per image, each a key of the stem table. None: every image
                goes through the first stem.

        Returns:
            tuple[Tensor]: The stages in ``out_indices``, in the original
            sample order (mmpretrain's tuple-of-stages contract).

        Raises:
            ValueError: If ``modalities`` has not ``N`` entries or holds a
                name that is not in the stem table.
        """
        n = x.size(0)
        if modalities is None:
            ids = [0] * n
        else:
            ids = self.stem_indices(modalities)
            if len(ids) != n:
                raise ValueError(f'modalities has {len(ids)} entries for '
                                 f'{n} images')
        used = sorted(set(ids))
        if len(used) <= 1:
            outs = self._run_stem(self.stem_names[used[0] if used else 0], x)
        else:
            # rows per stem planned on the host (no device synchronisation)
            ids = torch.as_tensor(ids)
            index = {
                i: torch.nonzero(ids == i).squeeze(1).to(x.device)
                for i in used
            }
            parts = {
                i: self._run_stem(self.stem_names[i], x.index_select(0, idx))
                for i, idx in index.items()
            }
            outs = {}
            for key, first in parts[used[0]].items():
                merged = first.new_empty((n, ) + tuple(first.shape[1:]))
                for i in used:
                    merged = merged.index_copy(0, index[i], parts[i][key])
                outs[key] = merged
        x = outs.pop(-1)
        for stage in range(self.num_stem_stages, self._last + 1):
            x = getattr(self.backbone, self._stage_names[stage])(x)
            if stage in self.out_indices:
                outs[stage] = x
        return tuple(outs[i] for i in sorted(outs))


#: The name of the existing configs (``type='TwoStreamBackbone'``).
TwoStreamBackbone = MultiStreamBackbone
