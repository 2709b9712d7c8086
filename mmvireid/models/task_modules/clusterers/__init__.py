from .base_clusterer import BaseClusterer
from .ground_truth_clusterer import GroundTruthClusterer
from .jaccard_dbscan import JaccardDBSCAN
from .view_following_clusterer import ViewFollowingClusterer

__all__ = [
    'BaseClusterer', 'JaccardDBSCAN', 'GroundTruthClusterer',
    'ViewFollowingClusterer'
]
