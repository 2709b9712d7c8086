from .base_associator import Association, BaseAssociator, ClusterSet
from .ot_associator import OTAssociator

__all__ = ['BaseAssociator', 'ClusterSet', 'Association', 'OTAssociator']
