"""Evaluate a checkpoint: ``python tools/test.py CONFIG CHECKPOINT``."""
import argparse
import os

from mmengine.config import DictAction
from mmengine.fileio import dump
from mmengine.runner import Runner

from mmvireid.utils import register_all_modules
from mmvireid.utils.launch import load_config, prepare_launch


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='Evaluate a VI-ReID model')
    parser.add_argument('config', help='test config file path')
    parser.add_argument('checkpoint', help='checkpoint file (path or URL)')
    parser.add_argument('--work-dir', help='where logs and results go')
    parser.add_argument(
        '--out', help='write the metrics to this JSON/YAML/pickle file')
    parser.add_argument(
        '--threads', type=int, help='CPU threads of torch in each process')
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=DictAction,
        help='override config settings, e.g. '
        'test_evaluator.cmfp_k=30')
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
    cfg.load_from = args.checkpoint
    prepare_launch(cfg, args.threads)
    runner = Runner.from_cfg(cfg)
    metrics = runner.test()
    if args.out and runner.rank == 0:
        dump(metrics, args.out)
        runner.logger.info(f'metrics written to {args.out}')


if __name__ == '__main__':
    main()
