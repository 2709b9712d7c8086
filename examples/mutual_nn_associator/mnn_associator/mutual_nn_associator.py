"""Mutual-nearest-neighbour matching of cluster centroids."""
import torch

from mmvireid.models.task_modules import (Association, BaseAssociator,
                                          ClusterSet)
from mmvireid.registry import TASK_UTILS


@TASK_UTILS.register_module()
class MutualNNAssociator(BaseAssociator):
    """Match a source cluster with a destination cluster when each is the
    other's most similar centroid (cosine); every instance of a matched
    source cluster joins its partner, the others (and outliers) get -1.

    Args:
        min_similarity (float): Matches below this cosine are dropped.
            Defaults to -1 (keep every mutual match).
    """

    def __init__(self, min_similarity: float = -1.0) -> None:
        self.min_similarity = min_similarity

    def __call__(self, source: ClusterSet,
                 destination: ClusterSet) -> Association:
        labels = torch.as_tensor(source.labels)
        if not source.num_clusters or not destination.num_clusters:
            return Association(torch.full_like(labels, -1))
        sim = source.centroids @ destination.centroids.t()
        best_dst = sim.argmax(1)  # (K_src,)
        best_src = sim.argmax(0)  # (K_dst,)
        rows = torch.arange(len(best_dst))
        mutual = (best_src[best_dst] == rows) & (
            sim[rows, best_dst] >= self.min_similarity)
        partner = torch.where(mutual, best_dst, torch.full_like(best_dst, -1))
        cross = torch.where(labels >= 0, partner[labels.clamp(min=0)],
                            torch.full_like(labels, -1))
        plan = torch.zeros_like(sim)
        plan[rows[mutual], best_dst[mutual]] = 1
        return Association(cross, plan)
