from .dbscan_clustering import cluster_dbscan, describe_clusters
from .jaccard_distance import k_reciprocal_jaccard
from .ot_association import (association_accuracy, association_chance,
                             cluster_centroids, dual_association,
                             majority_identity, reassign_to_centroids,
                             sinkhorn_association)

__all__ = [
    'k_reciprocal_jaccard', 'cluster_dbscan', 'describe_clusters',
    'sinkhorn_association', 'dual_association', 'cluster_centroids',
    'reassign_to_centroids', 'association_accuracy', 'association_chance',
    'majority_identity'
]
