"""Train a model: ``python tools/train.py CONFIG [--work-dir DIR] ...``."""
import argparse
import os

from mmengine.config import DictAction
from mmengine.runner import Runner

from mmvireid.utils import register_all_modules
from mmvireid.utils.launch import load_config, prepare_launch


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='Train a VI-ReID model')
    parser.add_argument('config', help='train config file path')
    parser.add_argument('--work-dir', help='where logs and checkpoints go')
    parser.add_argument(
        '--resume',
        nargs='?',
        type=str,
        const='auto',
        help='resume from the given checkpoint, or from the latest one in '
        'the work dir when no path is given')
    parser.add_argument(
        '--amp', action='store_true', help='mixed-precision training')
    parser.add_argument(
        '--threads',
        type=int,
        help='CPU threads of torch in each process (avoid over-subscription '
        'on small machines)')
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=DictAction,
        help='override config settings, e.g. train_cfg.max_epochs=2')
    parser.add_argument(
        '--launcher',
        choices=['none', 'pytorch', 'slurm', 'mpi'],
        default='none',
        help='job launcher')
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)
    args = parser.parse_args()
    if 'LOCAL_RANK' not in os.environ:
        os.environ['LOCAL_RANK'] = str(args.local_rank)
    return args


def main() -> None:
    args = parse_args()
    register_all_modules(init_default_scope=False)
    cfg = load_config(args.config, args.launcher, args.cfg_options,
                      args.work_dir)
    if args.amp:
        cfg.optim_wrapper.type = 'AmpOptimWrapper'
        cfg.optim_wrapper.setdefault('loss_scale', 'dynamic')
    if args.resume == 'auto':
        cfg.resume = True
        cfg.load_from = None
    elif args.resume is not None:
        cfg.resume = True
        cfg.load_from = args.resume
    prepare_launch(cfg, args.threads)
    runner = Runner.from_cfg(cfg)
    runner.train()


if __name__ == '__main__':
    main()
