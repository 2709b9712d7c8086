"""An out-of-tree label-pipeline component: mutual-nearest-neighbour
association of cluster centroids, registered into mmvireid's TASK_UTILS."""
from .mutual_nn_associator import MutualNNAssociator

__all__ = ['MutualNNAssociator']
