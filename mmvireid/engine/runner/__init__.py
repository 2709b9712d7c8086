from .checkpoint_files import CheckpointError
from .config_checks import check_config
from .vireid_runner import VIReIDRunner

__all__ = ['VIReIDRunner', 'CheckpointError', 'check_config']
