from .base_memory import BaseMemory
from .cluster_memory import ClusterMemory
from .instance_memory import InstanceMemory
from .part_memory import PartMemory

__all__ = ['BaseMemory', 'ClusterMemory', 'PartMemory', 'InstanceMemory']
