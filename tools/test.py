"""Evaluate a checkpoint: ``python tools/test.py CONFIG CHECKPOINT``."""
import argparse

from mmengine.fileio import dump
from mmengine.registry import RUNNERS
from mmengine.runner import Runner

from mmvireid.engine.runner import CheckpointError
from mmvireid.utils import register_all_modules
from mmvireid.utils.launch import (add_launch_args, finish_launch, load_config,
                                   parse_launch_args, prepare_launch)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='Evaluate a VI-ReID model')
    parser.add_argument('config', help='test config file path')
    parser.add_argument('checkpoint', help='checkpoint file (path or URL)')
    parser.add_argument(
        '--out', help='write the metrics to this JSON/YAML/pickle file')
    parser.add_argument(
        '--non-strict',
        action='store_true',
        help='evaluate even if the checkpoint\'s keys or shapes do not match '
        'the model (by default such a checkpoint is refused: the metrics '
        'would belong to a partly random model)')
    add_launch_args(parser)
    return parse_launch_args(parser)


def main() -> None:
    args = parse_args()
    register_all_modules(init_default_scope=False)
    cfg = load_config(args.config, args.launcher, args.cfg_options,
                      args.work_dir)
    # loaded below, strictly unless --non-strict (mmengine's own loading of
    # load_from only warns about missing keys and mismatched shapes)
    cfg.load_from = None
    prepare_launch(cfg, args.threads)
    if 'runner_type' in cfg:  # mmvireid's configs: VIReIDRunner
        runner = RUNNERS.build(cfg)
    else:
        runner = Runner.from_cfg(cfg)
    try:
        runner.load_checkpoint(args.checkpoint, strict=not args.non_strict)
    except CheckpointError as error:  # empty, truncated or corrupt file
        raise SystemExit(f'tools/test.py: {error}') from error
    except RuntimeError as error:
        if 'state_dict' not in str(error):
            raise
        raise SystemExit(
            f'tools/test.py: the checkpoint {args.checkpoint} does not match '
            f'the model of {args.config}:\n{error}\nIs it a checkpoint of '
            'this config? Pass --non-strict to evaluate it anyway.') from error
    metrics = runner.test()
    if args.out and runner.rank == 0:
        dump(metrics, args.out)
        runner.logger.info(f'metrics written to {args.out}')
    finish_launch()


if __name__ == '__main__':
    main()
