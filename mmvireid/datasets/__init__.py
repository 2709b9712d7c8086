from .base_vireid_dataset import BaseVIReIDDataset
from .collate import vireid_collate
from .regdb import RegDB, read_regdb_index
from .samplers import *  # noqa: F401,F403
from .synthvi import SynthVI
from .sysu_mm01 import SYSUMM01
from .sysu_splits import (process_gallery_sysu, process_query_sysu,
                          process_train_sysu)
from .transforms import *  # noqa: F401,F403
from .virtual_modality_dataset import VirtualModalityDataset

__all__ = [
    'BaseVIReIDDataset', 'SYSUMM01', 'RegDB', 'SynthVI', 'process_query_sysu',
    'process_gallery_sysu', 'process_train_sysu', 'read_regdb_index',
    'vireid_collate', 'VirtualModalityDataset'
]
