"""GeM pooling followed by a BNNeck."""
from typing import Optional, Sequence, Tuple, Union

import torch
import torch.nn as nn
from mmengine.model import BaseModule

from mmvireid.registry import MODELS


@MODELS.register_module()
class GeMBNNeck(BaseModule):
    """Generalized-mean pooling, then a batch-norm neck.

    GeM (Radenović et al., "Fine-tuning CNN Image Retrieval with No Human
    Annotation", TPAMI 2018) pools each channel as
    ``(mean(clamp(x, eps) ** p)) ** (1 / p)``: ``p = 1`` is average pooling,
    ``p -> inf`` tends to max pooling. The BNNeck (Luo et al., "Bag of
    Tricks and a Strong Baseline for Deep Person Re-identification", CVPRW
    2019) is a ``BatchNorm1d`` whose bias is fixed at zero (not trained):
    metric losses may use the pooled feature, identity / memory losses the
    normalised one.

    The output is ``(pooled, bn_feature)``; **retrieval uses the BN feature,
    the last element** (as in SALCR: the L2-normalised BN global feature),
    which is what :class:`~mmvireid.models.ReIDer` takes (``feats[-1]``).

    Args:
        in_channels (int): Channels of the input feature map.
        p (float): Initial GeM exponent. Defaults to 3.0.
        learnable_p (bool): Learn ``p`` (a parameter) instead of keeping it
            fixed (a buffer). Defaults to False.
        eps (float): Lower clamp of the activations before the power.
            Defaults to 1e-6.
        init_cfg (dict, optional): Initialisation config. Defaults to None
            (BN weight 1, bias 0).
    """

    def __init__(self,
                 in_channels: int,
                 p: float = 3.0,
                 learnable_p: bool = False,
                 eps: float = 1e-6,
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        if p <= 0:
            raise ValueError(f'GeM exponent p must be positive, got {p}')
        self.in_channels = in_channels
        self.eps = eps
        self.learnable_p = learnable_p
        p_tensor = torch.tensor([float(p)])
        if learnable_p:
            self.p = nn.Parameter(p_tensor)
        else:
            self.register_buffer('p', p_tensor)
        self.bn = nn.BatchNorm1d(in_channels)
        nn.init.zeros_(self.bn.bias)
        self.bn.bias.requires_grad_(False)

    def init_weights(self) -> None:
        """Apply ``init_cfg``, then re-zero (and re-freeze) the BN bias."""
        super().init_weights()
        with torch.no_grad():
            self.bn.bias.zero_()
        self.bn.bias.requires_grad_(False)

    def gem(self, x: torch.Tensor) -> torch.Tensor:
        """GeM-pool ``(N, C, H, W)`` to ``(N, C)``."""
        p = self.p.to(x.dtype)
        return x.clamp(min=self.eps).pow(p).mean(dim=(-2, -1)).pow(1.0 / p)

    def forward(
        self, inputs: Union[torch.Tensor, Sequence[torch.Tensor]]
    ) -> Tuple[torch.Tensor, torch.Tensor]:
        """Pool the last feature map and normalise it.

        Args:
            inputs (Tensor or tuple[Tensor]): ``(N, C, H, W)`` or a
                backbone's tuple of stages (the last one is used).

        Returns:
            tuple[Tensor]: ``(pooled, bn_feature)``, both ``(N, C)``;
            retrieval uses ``bn_feature``.
        """
        if isinstance(inputs, (tuple, list)):
            inputs = inputs[-1]
        if inputs.dim() != 4:
            raise ValueError('GeMBNNeck expects (N, C, H, W) feature maps, '
                             f'got shape {tuple(inputs.shape)}')
        pooled = self.gem(inputs)
        return pooled, self.bn(pooled)
