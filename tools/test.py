"""Evaluate a checkpoint: ``python tools/test.py CONFIG CHECKPOINT``."""
import argparse

from mmengine.fileio import dump
from mmengine.registry import RUNNERS
from mmengine.runner import Runner

from mmvireid.utils import register_all_modules
from mmvireid.utils.launch import (add_launch_args, finish_launch, load_config,
                                   parse_launch_args, prepare_launch)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='Evaluate a VI-ReID model')
    parser.add_argument('config', help='test config file path')
    parser.add_argument('checkpoint', help='checkpoint file (path or URL)')
    parser.add_argument(
        '--out', help='write the metrics to this JSON/YAML/pickle file')
    add_launch_args(parser)
    return parse_launch_args(parser)


def main() -> None:
    args = parse_args()
    register_all_modules(init_default_scope=False)
    cfg = load_config(args.config, args.launcher, args.cfg_options,
                      args.work_dir)
    cfg.load_from = args.checkpoint
    prepare_launch(cfg, args.threads)
    if 'runner_type' in cfg:  # mmvireid's configs: VIReIDRunner
        runner = RUNNERS.build(cfg)
    else:
        runner = Runner.from_cfg(cfg)
    metrics = runner.test()
    if args.out and runner.rank == 0:
        dump(metrics, args.out)
        runner.logger.info(f'metrics written to {args.out}')
    finish_launch()


if __name__ == '__main__':
    main()
