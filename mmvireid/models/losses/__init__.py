from .channel_identity_loss import ChannelIdentityLoss
from .cluster_contrast_loss import ClusterContrastLoss
from .multi_positive_contrast_loss import (MultiPositiveContrastLoss,
                                           positive_nll)
from .neighbour_learning_loss import NeighbourLearningLoss
from .uniform_merging_loss import UniformMergingLoss, cluster_groups

__all__ = [
    'ChannelIdentityLoss', 'ClusterContrastLoss', 'MultiPositiveContrastLoss',
    'NeighbourLearningLoss', 'positive_nll', 'UniformMergingLoss',
    'cluster_groups'
]
