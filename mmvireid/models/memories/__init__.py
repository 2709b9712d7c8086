from .cluster_memory import ClusterMemory

__all__ = ['ClusterMemory']
