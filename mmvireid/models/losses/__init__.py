from .cluster_contrast_loss import ClusterContrastLoss
from .multi_positive_contrast_loss import (MultiPositiveContrastLoss,
                                           positive_nll)

__all__ = ['ClusterContrastLoss', 'MultiPositiveContrastLoss', 'positive_nll']
