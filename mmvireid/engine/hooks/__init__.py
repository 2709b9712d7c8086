from .association_hook import AssociationHook
from .clustering_hook import ClusteringHook

__all__ = ['ClusteringHook', 'AssociationHook']
