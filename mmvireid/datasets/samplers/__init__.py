from .cross_modal_cluster_sampler import CrossModalClusterSampler
from .drawn_index import DRAWN_ID_KEYS, DrawnIndex, drawn_ids, same_slot

__all__ = [
    'CrossModalClusterSampler', 'DrawnIndex', 'DRAWN_ID_KEYS', 'drawn_ids',
    'same_slot'
]
