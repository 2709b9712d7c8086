"""The label buffers a head keeps from the pseudo-label contract."""
from typing import Tuple

import torch

from mmvireid.structures import PseudoLabels


def label_buffers(pseudo_labels: PseudoLabels,
                  device: torch.device) -> Tuple[torch.Tensor, torch.Tensor]:
    """``(labels, cross_labels)`` of every sample, on ``device``.

    ``labels`` is a copy (the pipeline may go on editing its own in place);
    ``cross_labels`` is :meth:`PseudoLabels.merged_cross_labels` after an
    association, ``-1`` everywhere before one.
    """
    labels = pseudo_labels.labels.to(device, copy=True)
    if not pseudo_labels.cross_labels:
        return labels, torch.full_like(labels, -1)
    return labels, pseudo_labels.merged_cross_labels().to(device)
