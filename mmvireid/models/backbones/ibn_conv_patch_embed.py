"""TransReID-SSL's IBN convolution stem ("ICS") as a ViT patch embedding."""
from typing import Optional, Sequence, Tuple, Union

import torch
import torch.nn as nn
from mmengine.model import BaseModule
from mmpretrain.models.utils import to_2tuple

from mmvireid.registry import MODELS


class _IBN(nn.Module):
    """Instance norm on the first half of the channels, batch norm on the
    rest (IBN-Net, https://arxiv.org/abs/1807.09441); keys ``IN.*``,
    ``BN.*`` as in TransReID-SSL's checkpoints."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.half = channels // 2
        self.IN = nn.InstanceNorm2d(self.half, affine=True)
        self.BN = nn.BatchNorm2d(channels - self.half)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        first, second = x.split([self.half, x.size(1) - self.half], dim=1)
        return torch.cat([self.IN(first.contiguous()), self.BN(second)], 1)


@MODELS.register_module()
class IBNConvPatchEmbed(BaseModule):
    """Convolutional patch embedding with IBN, TransReID-SSL's "ICS".

    From *Self-Supervised Pre-training for Transformer-Based Person
    Re-Identification* (Luo et al., https://arxiv.org/abs/2111.12084): a
    7×7 stride-2 convolution and two 3×3 convolutions (64 channels, IBN,
    IBN, BN, ReLU each) replace the first half of the patch stride, then
    a ``patch_size / 2`` convolution projects to the tokens. The module and
    key names (``conv.0`` .. ``conv.8``, ``projection``) match those
    checkpoints after :func:`~mmvireid.models.backbones.vit_checkpoint.
    timm_to_mmpretrain`. It has mmpretrain ``PatchEmbed``'s interface:
    ``forward`` returns the tokens ``(B, L, C)`` and the grid ``(H, W)``,
    ``init_out_size`` is the grid of ``input_size``.

    Args:
        in_channels (int): Image channels. Defaults to 3.
        embed_dims (int): Token width. Defaults to 768.
        patch_size (int): Total stride. Defaults to 16.
        input_size (int | tuple[int, int]): Nominal image size (H, W).
            Defaults to (384, 128).
        hidden_dims (int): Stem width. Defaults to 64.
        init_cfg (dict, optional): Initialisation config.
    """

    def __init__(self,
                 in_channels: int = 3,
                 embed_dims: int = 768,
                 patch_size: int = 16,
                 input_size: Union[int, Sequence[int]] = (384, 128),
                 hidden_dims: int = 64,
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        if patch_size % 2:
            raise ValueError(f'IBNConvPatchEmbed: patch_size must be even '
                             f'(a stride-2 stem first), got {patch_size}')
        h = hidden_dims
        self.conv = nn.Sequential(
            nn.Conv2d(in_channels, h, 7, stride=2, padding=3, bias=False),
            _IBN(h), nn.ReLU(inplace=True),
            nn.Conv2d(h, h, 3, stride=1, padding=1, bias=False), _IBN(h),
            nn.ReLU(inplace=True),
            nn.Conv2d(h, h, 3, stride=1, padding=1, bias=False),
            nn.BatchNorm2d(h), nn.ReLU(inplace=True))
        self.projection = nn.Conv2d(
            h, embed_dims, patch_size // 2, stride=patch_size // 2)
        size = to_2tuple(input_size)
        self.init_out_size = tuple(s // patch_size for s in size)

    def forward(self, x: torch.Tensor) -> Tuple[torch.Tensor, tuple]:
        """Tokens ``(B, H*W, C)`` of images ``(B, 3, 16H, 16W)`` and the
        grid ``(H, W)``."""
        x = self.projection(self.conv(x))
        return x.flatten(2).transpose(1, 2), tuple(x.shape[2:])
