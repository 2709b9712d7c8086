from .base_clusterer import BaseClusterer
from .ground_truth_clusterer import GroundTruthClusterer
from .jaccard_dbscan import JaccardDBSCAN

__all__ = ['BaseClusterer', 'JaccardDBSCAN', 'GroundTruthClusterer']
