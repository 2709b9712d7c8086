"""Launch-time set-up shared by ``tools/train.py`` and ``tools/test.py``."""
import argparse
import contextlib
import logging
import os
import os.path as osp
import sys
from typing import Optional

import torch
import torch.distributed as torch_dist
from mmengine.config import Config
from mmengine.logging import print_log

from .config_compat import CfgOptionsAction
from .hook_configs import hooks_as_list


def add_launch_args(parser: argparse.ArgumentParser) -> None:
    """Arguments shared by ``tools/train.py`` and ``tools/test.py``:
    ``--work-dir``, ``--threads``, ``--cfg-options``, ``--launcher`` and
    ``--local-rank``.

    ``--cfg-options`` is parsed by
    :class:`~mmvireid.utils.config_compat.CfgOptionsAction`: mmengine's
    syntax, but a value with spaces keeps them (mmengine's ``DictAction``
    removes them: ``data_root="my data"`` became ``mydata``).
    """
    parser.add_argument('--work-dir', help='where logs and results go')
    parser.add_argument(
        '--threads',
        type=int,
        help='CPU threads of torch in each process (avoid over-subscription '
        'on small machines)')
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=CfgOptionsAction,
        help='override config settings, e.g. train_cfg.max_epochs=2; a '
        'value quoted with spaces keeps them (data_root="my data")')
    parser.add_argument(
        '--launcher',
        choices=['none', 'pytorch', 'slurm', 'mpi'],
        default='none',
        help='job launcher')
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)


def parse_launch_args(parser: argparse.ArgumentParser) -> argparse.Namespace:
    """Parse, and export ``LOCAL_RANK`` when a launcher did not."""
    args = parser.parse_args()
    if 'LOCAL_RANK' not in os.environ:
        os.environ['LOCAL_RANK'] = str(args.local_rank)
    return args


def load_config(config: str,
                launcher: str = 'none',
                cfg_options: Optional[dict] = None,
                work_dir: Optional[str] = None) -> Config:
    """Read a config and apply the command-line overrides of the tools.

    ``custom_hooks`` given by name (:mod:`mmvireid.utils.hook_configs`)
    become mmengine's list after the overrides, so ``--cfg-options
    custom_hooks.clustering.clusterer.eps=0.5`` works.

    Args:
        config (str): Config file path.
        launcher (str): ``'none'``, ``'pytorch'``, ``'slurm'`` or ``'mpi'``.
        cfg_options (dict, optional): ``--cfg-options`` overrides.
        work_dir (str, optional): ``--work-dir``; defaults to the config's
            ``work_dir`` or ``./work_dirs/<config name>``.

    Returns:
        Config: The config.

    Raises:
        ValueError: A ``custom_hooks`` entry is not a hook config or has no
            ``type`` (see :func:`~mmvireid.utils.hook_configs.hooks_as_list`).
    """
    cfg = Config.fromfile(config)
    cfg.launcher = launcher
    if cfg_options is not None:
        cfg.merge_from_dict(cfg_options)
    hooks_as_list(cfg)
    if work_dir is not None:
        cfg.work_dir = work_dir
    elif cfg.get('work_dir') is None:
        cfg.work_dir = osp.join('./work_dirs',
                                osp.splitext(osp.basename(config))[0])
    return cfg


def prepare_launch(cfg: Config, threads: Optional[int] = None) -> None:
    """Make a config runnable on the machine at hand.

    - A distributed launch wraps the model in
      :class:`~mmvireid.models.VIReIDDistributedDataParallel` (also when the
      config names mmengine's ``MMDistributedDataParallel`` or no wrapper;
      its other settings, e.g. ``find_unused_parameters``, are kept): the
      buffer policy of :mod:`mmvireid.utils.dist_utils`, on CPUs and GPUs
      alike.
    - Without CUDA, a distributed launch cannot use NCCL: the backend is
      switched to gloo (said in the log), the process group is initialised
      here (mmengine's would select a CUDA device) and the wrapper gets no
      device ids, so ``tools/dist_train.sh CONFIG 2`` also runs on CPUs.
    - ``threads`` caps torch's intra-op threads per process; on small
      shared machines over-subscription slows training several-fold.

    Args:
        cfg (Config): The full config; modified in place.
        threads (int, optional): Torch CPU threads per process.
    """
    dist_cfg = cfg.setdefault('env_cfg', {}).setdefault('dist_cfg', {})
    launcher = cfg.get('launcher', 'none')
    if launcher != 'none':
        wrapper = dict(cfg.get('model_wrapper_cfg') or {})
        if wrapper.get('type', 'MMDistributedDataParallel') in (
                'MMDistributedDataParallel',
                'mmengine.MMDistributedDataParallel'):
            # with its scope: mmengine's Runner looks wrappers up in the
            # root registry
            wrapper['type'] = 'mmvireid.VIReIDDistributedDataParallel'
        cfg.model_wrapper_cfg = wrapper
    if launcher != 'none' and not torch.cuda.is_available():
        dist_cfg['backend'] = 'gloo'
        print_log(
            'CUDA is not available: using the gloo backend', logger='current')
        if launcher == 'pytorch' and not torch_dist.is_initialized():
            # mmengine's init_dist would select a CUDA device first
            torch_dist.init_process_group('gloo')
        # CPU DistributedDataParallel takes no device ids
        cfg.model_wrapper_cfg['device_ids'] = None
    if threads is not None:
        if threads < 1:
            raise ValueError(f'--threads must be >= 1, got {threads}')
        torch.set_num_threads(threads)


def finish_launch() -> None:
    """End a distributed run cleanly: all ranks meet, the process group is
    destroyed and the process exits with status 0 at once.

    Left to interpreter exit, the threads of torch's distributed runtime
    (gloo's, the autograd engine's, the store's) are torn down in no defined
    order, and a rank can abort at exit ("terminate called without an
    active exception") after its work is done, failing the launch (about 1
    run in 16 even after the process group is destroyed). So once the work
    is done and saved, the logs are flushed and the process leaves with
    ``os._exit(0)``, which runs no C++ destructor. Does nothing in a
    single-process run.
    """
    if not (torch_dist.is_available() and torch_dist.is_initialized()):
        return
    torch_dist.barrier()
    torch_dist.destroy_process_group()
    logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        # a closed pipe (`| head`) or stream has nothing left to flush
        with contextlib.suppress(OSError, ValueError):
            stream.flush()
    os._exit(0)
