"""Cross entropy of features against the entries of a memory bank."""
import torch
import torch.nn as nn
import torch.nn.functional as F

from mmvireid.registry import MODELS
from ..memories.base_memory import BaseMemory
from ..utils.label_rows import valid_rows


@MODELS.register_module()
class ClusterContrastLoss(nn.Module):
    """Cluster contrast: ``CE(f · Mᵀ / τ, y)`` over a memory's entries.

    The InfoNCE loss of Cluster-Contrast (https://arxiv.org/abs/2103.11568)
    and SALCR (Eq. 8, 12-15): each row's similarities to the memory's
    entries (:meth:`BaseMemory.logits`, which applies the temperature) are
    scored against its entry ``y``. Rows labelled outside ``0..K-1`` of the
    memory (``-1``: outliers, no association) are left out; with no row
    left the loss is a zero that keeps the graph.

    Part memories (:class:`~mmvireid.models.PartMemory`, logits
    ``(P, B, K)``) are handled too: every part has the same rows, so the
    mean over the ``P x B`` rows is the mean over parts of the per-part
    means.

    The labels may live on the CPU (they come from the data samples):
    which rows are valid is then decided on the host, without a device
    synchronisation; the rows are gathered with ``index_select``.

    Args:
        loss_weight (float): Multiplier of the loss. Defaults to 1.
    """

    def __init__(self, loss_weight: float = 1.0) -> None:
        super().__init__()
        self.loss_weight = loss_weight

    def forward(self, features: torch.Tensor, labels: torch.Tensor,
                memory: BaseMemory) -> torch.Tensor:
        """The weighted loss of a batch.

        Args:
            features (Tensor): ``(B, ...)`` features, as ``memory.logits``
                takes them (normalised there).
            labels (Tensor): ``(B,)`` entries of ``memory``.
            memory (BaseMemory): The bank, e.g. a ``ClusterMemory``.

        Returns:
            Tensor: Scalar loss.
        """
        rows = valid_rows(labels, memory.num_entries)
        if not len(rows):
            return features.sum() * 0
        target = labels.index_select(0, rows).to(features.device)
        logits = memory.logits(
            features.index_select(0, rows.to(features.device)))
        if logits.dim() == 3:  # (P, B, K) of a part memory
            target = target.repeat(logits.size(0))
            logits = logits.flatten(0, 1)
        return self.loss_weight * F.cross_entropy(logits, target)
