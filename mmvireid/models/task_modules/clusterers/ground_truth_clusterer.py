"""The true ids as clusters: the supervised ceiling of an ablation."""
import numpy as np
import torch

from mmvireid.registry import TASK_UTILS
from mmvireid.structures import PseudoLabels
from .base_clusterer import BaseClusterer


@TASK_UTILS.register_module()
class GroundTruthClusterer(BaseClusterer):
    """Pseudo-labels from the training set's true ids.

    Each modality's true ids, renumbered ``0..K_m-1`` in increasing id
    order, are its clusters (no outliers). This is the *ceiling* of an
    ablation (how far perfect clusters would go), never an unsupervised
    result; the features are still extracted, as memories and association
    need them.
    """

    def __call__(self, pl: PseudoLabels) -> PseudoLabels:
        """True ids renumbered per modality."""
        if pl.pids is None:
            raise ValueError('GroundTruthClusterer: the pseudo-labels carry '
                             'no true ids (pids)')
        labels = np.full(pl.num_samples, -1, dtype=np.int64)
        pids = pl.pids.numpy()
        for modality in pl.modalities:
            index = pl.indices(modality).numpy()
            if len(index):
                labels[index] = np.unique(pids[index], return_inverse=True)[1]
        return pl.with_fields(labels=torch.from_numpy(labels))
