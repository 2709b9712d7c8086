from .cross_modal_cluster_sampler import CrossModalClusterSampler

__all__ = ['CrossModalClusterSampler']
