from .association_hook import AssociationHook
from .clustering_hook import ClusteringHook
from .epoch_seed_hook import EpochSeedHook

__all__ = ['ClusteringHook', 'AssociationHook', 'EpochSeedHook']
