"""Association by the true ids: the supervised ceiling of an ablation."""
import numpy as np
import torch

from mmvireid.registry import TASK_UTILS
from ...utils import majority_identity
from .base_associator import Association, BaseAssociator, ClusterSet


@TASK_UTILS.register_module()
class GroundTruthAssociator(BaseAssociator):
    """Each instance joins the destination cluster of its own identity.

    The destination cluster of an identity is the one whose majority true
    id it is; a source instance whose identity has no such cluster, and
    every source outlier, gets ``-1``. This is the *ceiling* of an ablation
    (how far a perfect association would go), never an unsupervised
    result: it needs the true ids of both sides (``ClusterSet.pids``).
    There is no soft plan.
    """

    def __call__(self, source: ClusterSet,
                 destination: ClusterSet) -> Association:
        """Cross labels from the true ids (see the class)."""
        if source.pids is None or destination.pids is None:
            raise ValueError('GroundTruthAssociator needs the true ids '
                             '(ClusterSet.pids) of both modalities')
        labels = np.asarray(source.labels)
        src_pids = np.asarray(source.pids)
        dst_labels = np.asarray(destination.labels)
        dst_pids = np.asarray(destination.pids)
        uniq = np.unique(np.concatenate([src_pids, dst_pids]))
        majority = majority_identity(dst_labels, dst_pids)
        table = np.full(len(uniq), -1, dtype=np.int64)
        valid = np.flatnonzero(majority >= 0)
        table[np.searchsorted(uniq, majority[valid])] = valid
        code = np.searchsorted(uniq, src_pids)
        cross = np.where(labels >= 0, table[code], -1).astype(np.int64)
        return Association(torch.from_numpy(cross))
