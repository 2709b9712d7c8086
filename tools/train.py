"""Train a model: ``python tools/train.py CONFIG [--work-dir DIR] ...``."""
import argparse

from mmengine.registry import RUNNERS
from mmengine.runner import Runner

from mmvireid.engine.runner import CheckpointError
from mmvireid.utils import register_all_modules
from mmvireid.utils.launch import (add_launch_args, finish_launch, load_config,
                                   parse_launch_args, prepare_launch)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='Train a VI-ReID model')
    parser.add_argument('config', help='train config file path')
    parser.add_argument(
        '--resume',
        nargs='?',
        type=str,
        const='auto',
        help='resume from the given checkpoint, or from the latest one in '
        'the work dir when no path is given')
    parser.add_argument(
        '--amp', action='store_true', help='mixed-precision training')
    add_launch_args(parser)
    return parse_launch_args(parser)


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
    if 'runner_type' in cfg:  # mmvireid's configs: VIReIDRunner
        runner = RUNNERS.build(cfg)
    else:
        runner = Runner.from_cfg(cfg)
    try:
        runner.train()
    except CheckpointError as error:  # names the file and its fault
        raise SystemExit(f'tools/train.py: {error}') from error
    finish_launch()


if __name__ == '__main__':
    main()
