from .base_associator import Association, BaseAssociator, ClusterSet
from .ground_truth_associator import GroundTruthAssociator
from .ot_associator import OTAssociator
from .vra_associator import VRAAssociator

__all__ = [
    'BaseAssociator', 'ClusterSet', 'Association', 'OTAssociator',
    'GroundTruthAssociator', 'VRAAssociator'
]
