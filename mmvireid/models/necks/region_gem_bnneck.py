"""Region features: a GeM + BN neck per horizontal stripe, concatenated."""
from typing import Optional, Sequence, Tuple, Union

import torch
import torch.nn as nn
from mmengine.model import BaseModule

from mmvireid.registry import MODELS


@MODELS.register_module()
class RegionGeMBNNeck(BaseModule):
    """Split a map into ``num_regions`` horizontal stripes and pool each with
    its own :class:`GeMBNNeck`; the regions' features are concatenated.

    MCF's region spaces (N = 4 on SYSU-MM01, 6 on RegDB): the feature of an
    image is ``[r_1, ..., r_N]``, ``(B, N·C)``, so the memories store the
    concatenation and :class:`~mmvireid.models.VRAAssociator` (with
    ``num_regions=N``, which re-normalises each region) and
    :class:`~mmvireid.models.RegionalNeighbours` find the regions as
    consecutive slices of ``C``. Stripes are ``torch.tensor_split`` of the
    height (as FGSAL's parts): equal when N divides H, the first ones one
    row taller otherwise. Use it alone or as PA-CBAM's ``pooling``.

    The output is ``(pooled, bn_feature)`` like GeMBNNeck's, each the
    concatenation over the regions; retrieval uses the last element.

    Args:
        in_channels (int): Channels ``C`` of the map.
        num_regions (int): Stripes ``N``. Defaults to 4.
        p (float): Initial GeM exponent of every region. Defaults to 3.0.
        learnable_p (bool): Learn each region's ``p``. Defaults to False.
        init_cfg (dict, optional): Initialisation config.
    """

    def __init__(self,
                 in_channels: int,
                 num_regions: int = 4,
                 p: float = 3.0,
                 learnable_p: bool = False,
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        if isinstance(
                num_regions,
                bool) or not isinstance(num_regions, int) or num_regions < 1:
            raise ValueError('RegionGeMBNNeck: num_regions must be an int >= '
                             f'1, got {num_regions!r}')
        self.in_channels = in_channels
        self.num_regions = num_regions
        self.regions = nn.ModuleList([
            MODELS.build(
                dict(
                    type='GeMBNNeck',
                    in_channels=in_channels,
                    p=p,
                    learnable_p=learnable_p)) for _ in range(num_regions)
        ])

    @property
    def out_channels(self) -> int:
        """``N·C``, the width of the concatenated feature."""
        return self.num_regions * self.in_channels

    def forward(
        self, inputs: Union[torch.Tensor, Sequence[torch.Tensor]]
    ) -> Tuple[torch.Tensor, torch.Tensor]:
        """Pool each stripe with its neck and concatenate.

        Args:
            inputs (Tensor or tuple[Tensor]): ``(B, C, H, W)``, or a
                backbone's tuple of stages (the last one is used).

        Returns:
            tuple[Tensor]: ``(pooled, bn_feature)``, both ``(B, N·C)``.

        Raises:
            ValueError: Not a 4-D map, or fewer rows than regions.
        """
        if isinstance(inputs, (tuple, list)):
            inputs = inputs[-1]
        if inputs.dim() != 4:
            raise ValueError('RegionGeMBNNeck expects (B, C, H, W) maps, got '
                             f'shape {tuple(inputs.shape)}')
        if inputs.size(2) < self.num_regions:
            raise ValueError(
                f'RegionGeMBNNeck: a map of height {inputs.size(2)} cannot '
                f'be split into num_regions={self.num_regions} stripes')
        stripes = torch.tensor_split(inputs, self.num_regions, dim=2)
        outs = [neck(stripe) for neck, stripe in zip(self.regions, stripes)]
        return (torch.cat([pooled for pooled, _ in outs],
                          1), torch.cat([bn for _, bn in outs], 1))
