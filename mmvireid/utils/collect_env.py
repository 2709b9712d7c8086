"""Collect the versions that matter when reporting a problem."""
from mmengine.utils import get_git_hash
from mmengine.utils.dl_utils import collect_env as collect_base_env

import mmvireid


def collect_env() -> dict:
    """Basic environment (Python, CUDA, torch, ...) plus library versions.

    Returns:
        dict: Name → version string.
    """
    env_info = collect_base_env()
    env_info['mmvireid'] = f'{mmvireid.__version__}+{get_git_hash()[:7]}'
    for name in ('mmcv', 'mmpretrain', 'ot', 'open_clip', 'faiss'):
        try:
            module = __import__(name)
            env_info[name] = getattr(module, '__version__', 'unknown')
        except ImportError:
            env_info[name] = 'not installed'
    return env_info


if __name__ == '__main__':
    for name, val in collect_env().items():
        print(f'{name}: {val}')
