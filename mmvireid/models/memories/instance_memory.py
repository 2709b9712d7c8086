"""Instance-level memory of one modality's training images."""
from typing import Optional

import torch
import torch.nn.functional as F

from mmvireid.registry import MODELS
from ..utils.momentum_update import momentum_update_
from .base_memory import BaseMemory


@MODELS.register_module()
class InstanceMemory(BaseMemory):
    """L2-normalised features of every (non-outlier) image of an epoch.

    SALCR's GPCR instance memories (``M_I^v``, ``M_I^r`` and the part banks
    ``M_I^{vp}``, ``M_I^{rp}``, https://arxiv.org/abs/2504.19244, Sec.
    3.4): one global entry ``(N, D)`` and optionally ``P`` part entries
    ``(N, P, D)`` per image, filled by :meth:`reset` once per epoch. Each
    row remembers the dataset index (``sample_idx``) of its image.

    The paper does not say whether the entries change during an epoch; the
    reference never updates them (static memory), which is the default.
    With ``momentum_update=True``, :meth:`update` moves the entries of the
    batch's images towards their new features with the convention of
    :class:`ClusterMemory` (``momentum`` weights the OLD entry), DDP-correct
    as every memory's (:class:`BaseMemory`); the labels of an update are the
    images' dataset indices.

    Args:
        feat_dim (int): Global feature dimension ``D``.
        num_parts (int): Parts ``P`` stored per image; 0 for global only.
            Defaults to 0.
        part_dim (int, optional): Part feature dimension. Defaults to
            ``feat_dim``.
        momentum (float): μ, weight of the old entry. Defaults to 0.1.
        momentum_update (bool): Let :meth:`update` change the entries.
            Defaults to False (reference behaviour).
    """

    resizable_buffers = ('features', 'part_features', 'indices')

    def __init__(self,
                 feat_dim: int,
                 num_parts: int = 0,
                 part_dim: Optional[int] = None,
                 momentum: float = 0.1,
                 momentum_update: bool = False,
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        self.feat_dim = feat_dim
        self.num_parts = num_parts
        self.part_dim = feat_dim if part_dim is None else part_dim
        self.momentum = momentum
        self.momentum_update = momentum_update
        self.register_buffer('features', torch.zeros(0, feat_dim))
        self.register_buffer('part_features',
                             torch.zeros(0, num_parts, self.part_dim))
        self.register_buffer('indices', torch.zeros(0, dtype=torch.long))

    @property
    def num_instances(self) -> int:
        """Number of stored images ``N``."""
        return self.features.size(0)

    @property
    def num_entries(self) -> int:
        """Number of stored images (memory rows)."""
        return self.num_instances

    @property
    def has_parts(self) -> bool:
        """Whether part entries are stored (one per image)."""
        return self.num_parts > 0 and \
            self.part_features.size(0) == self.num_instances > 0

    @torch.no_grad()
    def reset(self,
              features: torch.Tensor,
              indices: Optional[torch.Tensor] = None,
              part_features: Optional[torch.Tensor] = None) -> None:
        """Fill the memory (start of an epoch).

        Args:
            features (Tensor): ``(N, D)`` global features (normalised here).
            indices (Tensor, optional): ``(N,)`` dataset indices of the
                images; defaults to ``0..N-1``. Need not be sorted.
            part_features (Tensor, optional): ``(N, P, D)`` part features
                (normalised here); without them the part entries are
                emptied.
        """
        device = self.features.device
        features = torch.as_tensor(features)
        if indices is None:
            indices = torch.arange(len(features))
        indices = torch.as_tensor(indices, dtype=torch.long)
        if len(indices) != len(features):
            raise ValueError(f'{len(indices)} indices for {len(features)} '
                             'features')
        if len(torch.unique(indices)) != len(indices):
            raise ValueError('InstanceMemory.reset: duplicate indices')
        if features.dim() != 2 or features.size(1) != self.feat_dim:
            raise ValueError(f'InstanceMemory(feat_dim={self.feat_dim}) got '
                             f'features of shape {tuple(features.shape)}; '
                             'set feat_dim to the feature dimension')
        indices, order = torch.sort(indices.to(device))
        self.indices = indices
        self.features = F.normalize(
            features.to(device, torch.float)[order], dim=-1)
        if part_features is None or not self.num_parts:
            self.part_features = self.features.new_zeros(
                0, self.num_parts, self.part_dim)
            return
        part_features = torch.as_tensor(part_features)
        if part_features.shape != (len(indices), self.num_parts,
                                   self.part_dim):
            raise ValueError(
                f'part features of shape ({len(indices)}, {self.num_parts}, '
                f'{self.part_dim}) expected, got '
                f'{tuple(part_features.shape)}')
        self.part_features = F.normalize(
            part_features.to(device, torch.float)[order], dim=-1)

    def rows(self, indices: torch.Tensor) -> torch.Tensor:
        """Memory row of each dataset index (``-1`` if not stored)."""
        indices = torch.as_tensor(indices, device=self.indices.device)
        if not self.num_instances:
            return torch.full_like(indices, -1)
        pos = torch.searchsorted(self.indices,
                                 indices).clamp(max=self.num_instances - 1)
        return torch.where(self.indices[pos] == indices, pos,
                           torch.full_like(pos, -1))

    @torch.no_grad()
    def update(self,
               features: torch.Tensor,
               labels: torch.Tensor,
               extra: Optional[torch.Tensor] = None) -> None:
        """Momentum update of the batch's entries (no-op by default).

        Only with ``momentum_update=True`` (a setting every rank shares, so
        the collective gather of :meth:`BaseMemory.update` is skipped by all
        ranks alike); images not stored (outliers) are skipped; an image
        seen twice is updated twice, in batch order.

        Args:
            features (Tensor): ``(B, D)`` global features.
            labels (Tensor): ``(B,)`` dataset indices of the images.
            extra (Tensor, optional): ``(B, P, D)`` their part features.
        """
        if self.momentum_update:
            super().update(features, labels, extra)

    @torch.no_grad()
    def apply_update(self,
                     features: torch.Tensor,
                     labels: torch.Tensor,
                     extra: Optional[torch.Tensor] = None) -> None:
        """Move the entries of dataset indices ``labels`` towards
        ``features`` (and their part entries towards ``extra``)."""
        rows = self.rows(labels)
        kept = rows >= 0
        momentum_update_(self.features, rows[kept],
                         features[kept.to(features.device)], self.momentum)
        if extra is not None and self.has_parts:
            momentum_update_(self.part_features, rows[kept],
                             extra[kept.to(extra.device)], self.momentum)

    def logits(self, features: torch.Tensor) -> torch.Tensor:
        """Cosine similarities ``(B, N)`` of ``(B, D)`` features to the
        stored global entries."""
        return F.normalize(
            features, dim=-1) @ self.features.t().to(features.dtype)
