"""Cluster-level memory bank with momentum-updated prototypes."""
from typing import Optional

import torch
import torch.nn.functional as F

from mmvireid.registry import MODELS
from ..utils.label_rows import valid_rows
from ..utils.momentum_update import momentum_update_
from .base_memory import BaseMemory


@MODELS.register_module()
class ClusterMemory(BaseMemory):
    """One L2-normalised prototype per cluster (Cluster-Contrast memory).

    Prototypes start at the cluster centroids (:meth:`reset`) and follow
    the features with the momentum rule of Cluster-Contrast
    (https://arxiv.org/abs/2103.11568) and SALCR Eq. 7::

        M[y] <- momentum * M[y] + (1 - momentum) * f ;  M[y] <- M[y] / |M[y]|

    so ``momentum`` weights the OLD prototype (μ = 0.1 keeps 10 % of it).
    Updates are applied one sample at a time in batch order, exactly as the
    reference's backward pass does (later samples of a cluster see the
    earlier updates).

    The bank's size changes with the number of clusters; saved states of any
    size load back. :meth:`update` is DDP-correct (:class:`BaseMemory`).
    The loss is :class:`~mmvireid.models.ClusterContrastLoss`.

    Args:
        feat_dim (int): Feature dimension.
        temperature (float): τ of the logits. Defaults to 0.05.
        momentum (float): μ, weight of the old prototype. Defaults to 0.1.
    """

    resizable_buffers = ('prototypes', )

    def __init__(self,
                 feat_dim: int,
                 temperature: float = 0.05,
                 momentum: float = 0.1,
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        self.feat_dim = feat_dim
        self.temperature = temperature
        self.momentum = momentum
        self.register_buffer('prototypes', torch.zeros(0, feat_dim))

    @property
    def num_clusters(self) -> int:
        """Number of prototypes."""
        return self.prototypes.size(0)

    @property
    def num_entries(self) -> int:
        """Number of prototypes (the labels a loss may use)."""
        return self.num_clusters

    @torch.no_grad()
    def reset(self, features: torch.Tensor, labels: torch.Tensor) -> None:
        """Prototypes = normalised centroids of clusters 0..K-1.

        Args:
            features (Tensor): (N, D) features.
            labels (Tensor): (N,) cluster labels, ``-1`` ignored.
        """
        labels = torch.as_tensor(labels, device=features.device)
        kept = labels >= 0
        num = int(labels[kept].max()) + 1 if kept.any() else 0
        sums = features.new_zeros(num, self.feat_dim)
        sums.index_add_(0, labels[kept], features[kept].to(sums.dtype))
        self.prototypes = F.normalize(sums, dim=1).to(self.prototypes.device)

    @torch.no_grad()
    def apply_update(self,
                     features: torch.Tensor,
                     labels: torch.Tensor,
                     extra: None = None) -> None:
        """Momentum update with (detached) features, in batch order.

        Equal to updating one sample at a time (a later sample of a cluster
        sees the earlier ones' update), vectorised over the clusters by
        :func:`~mmvireid.models.utils.momentum_update_`. Labels outside
        ``0..K-1`` (outliers) are skipped; host labels are selected on the
        host.
        """
        rows = valid_rows(labels, self.num_clusters)
        momentum_update_(self.prototypes, labels.index_select(0, rows),
                         features.index_select(0, rows.to(features.device)),
                         self.momentum)

    def logits(self, features: torch.Tensor) -> torch.Tensor:
        """``f · Mᵀ / τ`` of the normalised features (against a copy of the
        bank: :meth:`update` changes it in place before backward runs)."""
        prototypes = self.prototypes.clone().to(features.dtype)
        return F.normalize(features, dim=1) @ prototypes.t() / \
            self.temperature
