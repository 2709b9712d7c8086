"""MCF's PA-CBAM: part-aware channel gate, multi-scale spatial gate."""
from typing import Dict, Optional, Sequence, Tuple, Union

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmcv.cnn import ConvModule, build_activation_layer
from mmengine.model import BaseModule

from mmvireid.registry import MODELS


@MODELS.register_module()
class PACBAMNeck(BaseModule):
    """PA-CBAM map refinement, then a pooling neck (GeM + BNNeck).

    The Person-ReID Adaptive CBAM of MCF (Sec. 3.2 of the paper in
    ``shared/seeds/mcf_paper.txt``), after CBAM (Woo et al., "CBAM:
    Convolutional Block Attention Module", ECCV 2018,
    https://arxiv.org/abs/1807.06521). Of a ``(B, C, H, W)`` map ``F``:

    - **PI-CA** (channel gate): the rows are cut into ``num_regions``
      horizontal regions (:func:`torch.nn.functional.adaptive_avg_pool2d` /
      ``adaptive_max_pool2d`` to ``(K, 1)``: exact stripes when ``K``
      divides ``H``, torch's overlapping bins otherwise); the ``K`` average-
      and the ``K`` max-pooled part descriptors are each concatenated to a
      ``K·C`` vector, passed through one shared MLP (``K·C → C / r → C``)
      and summed: ``M_c = σ(MLP(avg) + MLP(max))``, ``(B, C)``.
    - **M-SA** (spatial gate) of ``F' = M_c ⊙ F``: the channel-wise mean
      and max maps, concatenated ``(B, 2, H, W)``, go through parallel
      ``k × k`` convolutions (``kernel_sizes``, 1, 3, 7), whose outputs are
      concatenated and fused by a ``1 × 1`` convolution to one channel:
      ``M_s = σ(fuse(...))``, ``(B, 1, H, W)``.
    - The refined map ``M_s ⊙ F'`` is pooled by ``pooling`` (a neck config,
      :class:`GeMBNNeck` by default; ``None``: the map itself is returned,
      which :class:`~mmvireid.models.ReIDer` average-pools).

    :meth:`forward` returns what the pooling neck returns (so
    ``ReIDer.pool`` is unchanged); :meth:`forward_features` returns, from
    the same single pass, the named features of :attr:`provided_features`
    with the ``'global'`` retrieval feature: the channel weights of *this*
    forward travel with its output (no state on the module, so two
    forwards in one step and DDP replicas stay independent) to the
    identity regulariser (:class:`~mmvireid.models.ChannelIdentityLoss`).

    Args:
        in_channels (int): Channels ``C`` of the input map.
        num_regions (int): Horizontal regions ``K`` of the channel gate.
            Defaults to 4.
        reduction (int): MLP reduction ``r``: hidden width ``C // r``.
            Defaults to 16.
        kernel_sizes (Sequence[int]): Odd kernel sizes of the parallel
            spatial convolutions. Defaults to ``(1, 3, 7)``.
        branch_channels (int): Output channels of each spatial branch.
            Defaults to 1 (the paper's figure; with no activation the
            branches and the fuse are then one linear map, parameterised by
            scale).
        branch_norm_cfg (dict, optional): Norm of each spatial branch
            (:class:`~mmcv.cnn.ConvModule`). Defaults to None.
        branch_act_cfg (dict, optional): Activation of each spatial branch.
            Defaults to None.
        act_cfg (dict): Activation of the MLP's hidden layer. Defaults to
            ``dict(type='ReLU')``.
        pooling (dict, optional): Neck pooling the refined map; its
            ``in_channels`` defaults to ``in_channels``. Defaults to
            ``dict(type='GeMBNNeck')``.
        init_cfg (dict, optional): Initialisation config.

    Raises:
        ValueError: ``in_channels``, ``num_regions``, ``reduction``,
            ``kernel_sizes`` or ``branch_channels`` is invalid (the
            message names it).
    """

    #: named features of :meth:`forward_features` besides ``'global'``
    provided_features = ('refined_map', 'channel_weights', 'spatial_weights')

    def __init__(self,
                 in_channels: int,
                 num_regions: int = 4,
                 reduction: int = 16,
                 kernel_sizes: Sequence[int] = (1, 3, 7),
                 branch_channels: int = 1,
                 branch_norm_cfg: Optional[dict] = None,
                 branch_act_cfg: Optional[dict] = None,
                 act_cfg: dict = dict(type='ReLU'),
                 pooling: Optional[dict] = dict(type='GeMBNNeck'),
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        for key, value in (('in_channels', in_channels), ('num_regions',
                                                          num_regions),
                           ('reduction', reduction), ('branch_channels',
                                                      branch_channels)):
            if int(value) != value or value < 1:
                raise ValueError(f'PACBAMNeck: {key} must be a positive '
                                 f'integer, got {value!r}')
        hidden = in_channels // reduction
        if hidden < 1:
            raise ValueError(
                f'PACBAMNeck: reduction={reduction} leaves no hidden unit '
                f'for in_channels={in_channels} (hidden = C // r)')
        kernel_sizes = tuple(kernel_sizes)
        if not kernel_sizes or any(
                int(k) != k or k < 1 or k % 2 == 0 for k in kernel_sizes):
            raise ValueError('PACBAMNeck: kernel_sizes must be odd positive '
                             f'integers (same-size maps), got {kernel_sizes}')
        self.in_channels = in_channels
        self.num_regions = num_regions
        self.kernel_sizes = kernel_sizes
        self.mlp = nn.Sequential(
            nn.Linear(num_regions * in_channels, hidden),
            build_activation_layer(act_cfg), nn.Linear(hidden, in_channels))
        self.branches = nn.ModuleList(
            ConvModule(
                2,
                branch_channels,
                k,
                padding=k // 2,
                norm_cfg=branch_norm_cfg,
                act_cfg=branch_act_cfg) for k in kernel_sizes)
        self.fuse = nn.Conv2d(len(kernel_sizes) * branch_channels, 1, 1)
        self.pooling = None
        if pooling is not None:
            pooling = dict(pooling)
            pooling.setdefault('in_channels', in_channels)
            self.pooling = MODELS.build(pooling)

    def channel_weights(self, x: torch.Tensor) -> torch.Tensor:
        """PI-CA: ``(B, C)`` channel weights in ``(0, 1)`` of a map."""
        size = (self.num_regions, 1)
        avg = F.adaptive_avg_pool2d(x, size).flatten(1)  # (B, C*K)
        peak = F.adaptive_max_pool2d(x, size).flatten(1)
        return torch.sigmoid(self.mlp(avg) + self.mlp(peak))

    def spatial_weights(self, x: torch.Tensor) -> torch.Tensor:
        """M-SA: ``(B, 1, H, W)`` spatial weights in ``(0, 1)`` of a map."""
        pooled = torch.cat([x.mean(1, keepdim=True),
                            x.amax(1, keepdim=True)],
                           dim=1)
        scales = torch.cat([branch(pooled) for branch in self.branches], 1)
        return torch.sigmoid(self.fuse(scales))

    def refine(
            self, x: torch.Tensor
    ) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """``spatial(channel(x))``.

        Args:
            x (Tensor): ``(B, C, H, W)`` map.

        Returns:
            tuple[Tensor, Tensor, Tensor]: the refined map ``(B, C, H,
            W)``, the channel weights ``(B, C)`` and the spatial weights
            ``(B, 1, H, W)``.
        """
        if x.dim() != 4 or x.size(1) != self.in_channels:
            raise ValueError(
                f'PACBAMNeck expects (B, {self.in_channels}, H, W) maps '
                f'(in_channels={self.in_channels}), got {tuple(x.shape)}')
        channel = self.channel_weights(x)
        x = x * channel[:, :, None, None]
        spatial = self.spatial_weights(x)
        return x * spatial, channel, spatial

    def _pool(
        self, refined: torch.Tensor
    ) -> Union[torch.Tensor, Tuple[torch.Tensor, ...]]:
        """The pooling neck's output, or the refined map without one."""
        return self.pooling(refined) if self.pooling is not None else refined

    def forward(
        self, inputs: Union[torch.Tensor, Sequence[torch.Tensor]]
    ) -> Union[torch.Tensor, Tuple[torch.Tensor, ...]]:
        """Refine the last map and pool it.

        Args:
            inputs (Tensor or tuple[Tensor]): ``(B, C, H, W)`` or a
                backbone's tuple of stages (the last one is used).

        Returns:
            Tensor | tuple[Tensor]: the pooling neck's output (for
            :class:`GeMBNNeck` ``(pooled, bn_feature)``, retrieval uses the
            last), or the refined map when ``pooling`` is None.
        """
        if isinstance(inputs, (tuple, list)):
            inputs = inputs[-1]
        return self._pool(self.refine(inputs)[0])

    def forward_features(
        self, inputs: Union[torch.Tensor, Sequence[torch.Tensor]]
    ) -> Dict[str, torch.Tensor]:
        """One pass giving the retrieval feature and the named features.

        Args:
            inputs (Tensor or tuple[Tensor]): As :meth:`forward`.

        Returns:
            dict[str, Tensor]: ``'global'`` ``(B, D)`` (the last output of
            the pooling neck, flattened; a map is average-pooled, as
            ``ReIDer.pool`` does), ``'refined_map'`` ``(B, C, H, W)``,
            ``'channel_weights'`` ``(B, C)`` and ``'spatial_weights'``
            ``(B, 1, H, W)``.
        """
        if isinstance(inputs, (tuple, list)):
            inputs = inputs[-1]
        refined, channel, spatial = self.refine(inputs)
        pooled = self._pool(refined)
        if isinstance(pooled, (tuple, list)):
            pooled = pooled[-1]
        if pooled.dim() == 4:
            pooled = F.adaptive_avg_pool2d(pooled, 1)
        return {
            'global': pooled.flatten(1),
            'refined_map': refined,
            'channel_weights': channel,
            'spatial_weights': spatial
        }
