"""Cluster memories of part features, one bank per part."""
from typing import Optional

import torch
import torch.nn.functional as F

from mmvireid.registry import MODELS
from ..utils.label_rows import valid_rows
from ..utils.momentum_update import momentum_update_
from .base_memory import BaseMemory


@MODELS.register_module()
class PartMemory(BaseMemory):
    """One cluster memory per part, all in one label space.

    The part-level memories of SALCR's FGSAL (Eq. 12-15,
    https://arxiv.org/abs/2504.19244): prototypes ``(P, K, D)`` start at
    the normalised part centroids of each cluster (:meth:`reset`) and
    follow the momentum rule of :class:`ClusterMemory` (``momentum``
    weights the OLD prototype, Eq. 7)::

        M_p[y] <- momentum * M_p[y] + (1 - momentum) * f_p ;
        M_p[y] <- M_p[y] / |M_p[y]|

    All parts are handled at once (no per-part Python list). The loss is
    :class:`~mmvireid.models.ClusterContrastLoss` (averaged over parts).
    :meth:`update` is DDP-correct (:class:`BaseMemory`).

    Args:
        num_parts (int): Number of parts ``P``.
        feat_dim (int): Feature dimension ``D``.
        temperature (float): τ of the logits. Defaults to 0.05.
        momentum (float): μ, weight of the old prototype. Defaults to 0.1.
    """

    resizable_buffers = ('prototypes', )

    def __init__(self,
                 num_parts: int,
                 feat_dim: int,
                 temperature: float = 0.05,
                 momentum: float = 0.1,
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        self.num_parts = num_parts
        self.feat_dim = feat_dim
        self.temperature = temperature
        self.momentum = momentum
        self.register_buffer('prototypes', torch.zeros(num_parts, 0, feat_dim))

    @property
    def num_clusters(self) -> int:
        """Number of prototypes per part."""
        return self.prototypes.size(1)

    @property
    def num_entries(self) -> int:
        """Prototypes per part (the labels a loss may use)."""
        return self.num_clusters

    def _check(self, part_feats: torch.Tensor) -> None:
        if part_feats.dim() != 3 or part_feats.shape[1:] != (self.num_parts,
                                                             self.feat_dim):
            raise ValueError(
                f'part features of shape (N, {self.num_parts}, '
                f'{self.feat_dim}) expected, got {tuple(part_feats.shape)}')

    @torch.no_grad()
    def reset(self, part_feats: torch.Tensor, labels: torch.Tensor) -> None:
        """Prototypes = normalised part centroids of clusters 0..K-1.

        Args:
            part_feats (Tensor): ``(N, P, D)`` part features.
            labels (Tensor): ``(N,)`` cluster labels, ``-1`` ignored.
        """
        self._check(part_feats)
        labels = torch.as_tensor(labels, device=part_feats.device).long()
        kept = labels >= 0
        num = int(labels[kept].max()) + 1 if kept.any() else 0
        sums = part_feats.new_zeros(num, self.num_parts, self.feat_dim)
        sums.index_add_(0, labels[kept],
                        F.normalize(part_feats[kept], dim=-1).to(sums))
        protos = F.normalize(sums, dim=-1).transpose(0, 1).contiguous()
        self.prototypes = protos.to(self.prototypes.device)

    @torch.no_grad()
    def apply_update(self,
                     part_feats: torch.Tensor,
                     labels: torch.Tensor,
                     extra: None = None) -> None:
        """Momentum update with (detached) part features, in batch order.

        Rows labelled ``-1`` or beyond the bank are skipped.
        """
        rows = valid_rows(labels, self.num_clusters)
        momentum_update_(
            self.prototypes,
            labels.index_select(0, rows),
            part_feats.index_select(0, rows.to(part_feats.device)),
            self.momentum,
            dim=1)

    def logits(self, part_feats: torch.Tensor) -> torch.Tensor:
        """``(P, B, K)`` similarities ``f_p · M_pᵀ / τ`` of the normalised
        ``(B, P, D)`` part features (against a copy of the bank:
        :meth:`update` changes it in place before backward runs)."""
        prototypes = self.prototypes.clone().to(part_feats.dtype)
        return torch.einsum('bpd,pkd->pbk', F.normalize(part_feats, dim=-1),
                            prototypes) / self.temperature
