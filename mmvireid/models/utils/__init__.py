from mmvireid.utils.knn import faiss_topk
from .adversarial_train_step import adversarial_train_step
from .batch_pairing import pair_rows
from .dbscan_clustering import (cluster_dbscan, describe_clusters,
                                radius_graph, sparse_dbscan)
from .jaccard_distance import k_reciprocal_jaccard
from .label_rows import sample_labels, valid_rows, write_labels
from .momentum_update import momentum_update_, occurrence_rank
from .schedule_aware import ScheduleAware
from .ot_association import (association_accuracy, association_chance,
                             cluster_centroids, dual_association,
                             majority_identity, reassign_to_centroids,
                             sinkhorn_association, sinkhorn_plan)

__all__ = [
    'k_reciprocal_jaccard', 'faiss_topk', 'cluster_dbscan', 'sparse_dbscan',
    'radius_graph', 'describe_clusters', 'sinkhorn_association',
    'sinkhorn_plan', 'dual_association', 'cluster_centroids',
    'reassign_to_centroids', 'association_accuracy', 'association_chance',
    'majority_identity', 'pair_rows', 'momentum_update_', 'occurrence_rank',
    'sample_labels', 'valid_rows', 'write_labels', 'ScheduleAware',
    'adversarial_train_step'
]
