from .association_hook import AssociationHook
from .atomic_checkpoint_hook import AtomicCheckpointHook
from .broadcast_buffers_hook import BroadcastBuffersHook
from .clustering_hook import ClusteringHook
from .component_schedule import ComponentSchedule, ScheduledComponent
from .epoch_seed_hook import EpochSeedHook
from .image_check_hook import ImageCheckHook
from .stage_hook import StageHook

__all__ = [
    'ClusteringHook', 'AssociationHook', 'EpochSeedHook', 'StageHook',
    'BroadcastBuffersHook', 'ComponentSchedule', 'ScheduledComponent',
    'AtomicCheckpointHook', 'ImageCheckHook'
]
