"""Train and evaluate SALCR on all 10 RegDB trials, then aggregate.

RegDB's protocol trains one model per trial (the trial fixes the 206 / 206
identity split) and reports the mean over trials, in both directions. For
each trial this script

1. trains ``configs/salcr/regdb.py`` with the trial set in the train,
   extraction and test datasets (``tools/train.py``, or
   ``tools/dist_train.sh`` with ``--gpus`` > 1), into
   ``WORK_DIR/trial<N>``;
2. evaluates the last checkpoint visible->thermal and thermal->visible
   (``tools/test.py ... --out``), writing ``v2t.json`` / ``t2v.json``;

and finally prints the mean ± std over trials of every metric per
direction (:mod:`aggregate_trials`). Finished steps are skipped, so an
interrupted run resumes where it stopped.

    python tools/analysis_tools/salcr_regdb_trials.py --gpus 2
    python tools/analysis_tools/salcr_regdb_trials.py --dry-run  # commands
"""
import argparse
import importlib.util
import os.path as osp
import subprocess
import sys
from typing import Dict, List, Optional, Sequence

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
HERE = osp.dirname(osp.abspath(__file__))
DIRECTIONS = ('v2t', 't2v')


def trial_options(trial: int) -> List[str]:
    """``--cfg-options`` that put ``trial`` in every RegDB dataset of
    ``configs/salcr/regdb.py`` (train, extraction hook, val, test)."""
    if trial not in range(1, 11):
        raise ValueError(f'RegDB trial must be in 1..10, got {trial}')
    keys = ('train_dataloader.dataset.trial',
            'custom_hooks.clustering.extract_dataloader.dataset.trial',
            'val_dataloader.dataset.trial', 'test_dataloader.dataset.trial')
    return [f'{key}={trial}' for key in keys]


def train_command(config: str, trial: int, work_dir: str, gpus: int,
                  extra: Sequence[str]) -> List[str]:
    """Training command of one trial."""
    options = ['--work-dir', work_dir, '--cfg-options'
               ] + trial_options(trial) + list(extra)
    if gpus > 1:
        return [
            'bash',
            osp.join(ROOT, 'tools', 'dist_train.sh'), config,
            str(gpus)
        ] + options
    return [sys.executable,
            osp.join(ROOT, 'tools', 'train.py'), config] + options


def test_command(config: str, trial: int, checkpoint: str, direction: str,
                 out: str, extra: Sequence[str]) -> List[str]:
    """Evaluation command of one trial and direction."""
    if direction not in DIRECTIONS:
        raise ValueError(f'direction must be one of {DIRECTIONS}, got '
                         f'{direction!r}')
    return [
        sys.executable,
        osp.join(ROOT, 'tools', 'test.py'), config, checkpoint, '--out', out,
        '--work-dir',
        osp.dirname(out), '--cfg-options'
    ] + trial_options(trial) + [
        f'test_dataloader.dataset.direction={direction}'
    ] + list(extra)


def last_checkpoint(work_dir: str) -> Optional[str]:
    """The checkpoint named in ``work_dir/last_checkpoint``, if any."""
    marker = osp.join(work_dir, 'last_checkpoint')
    if not osp.isfile(marker):
        return None
    with open(marker) as f:
        path = f.read().strip()
    return path if osp.isfile(path) else None


def _aggregate_module():
    spec = importlib.util.spec_from_file_location(
        'aggregate_trials', osp.join(HERE, 'aggregate_trials.py'))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def main(argv: Optional[Sequence[str]] = None) -> Dict[str, dict]:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument(
        '--config', default=osp.join(ROOT, 'configs', 'salcr', 'regdb.py'))
    parser.add_argument('--work-dir', default='work_dirs/salcr_regdb')
    parser.add_argument(
        '--trials', nargs='+', type=int, default=list(range(1, 11)))
    parser.add_argument('--gpus', type=int, default=1)
    parser.add_argument(
        '--cfg-options', nargs='+', default=[], help='extra overrides')
    parser.add_argument(
        '--dry-run', action='store_true', help='print the commands only')
    args = parser.parse_args(argv)

    def run(cmd: List[str]) -> None:
        print(' '.join(cmd), flush=True)
        if not args.dry_run:
            subprocess.run(cmd, cwd=ROOT, check=True)

    outputs = {d: [] for d in DIRECTIONS}
    for trial in args.trials:
        work_dir = osp.abspath(osp.join(args.work_dir, f'trial{trial}'))
        checkpoint = last_checkpoint(work_dir)
        if checkpoint is None:
            run(
                train_command(args.config, trial, work_dir, args.gpus,
                              args.cfg_options))
            checkpoint = last_checkpoint(work_dir) or osp.join(
                work_dir, 'epoch_N.pth')
        for direction in DIRECTIONS:
            out = osp.join(work_dir, f'{direction}.json')
            if not osp.isfile(out):
                run(
                    test_command(args.config, trial, checkpoint, direction,
                                 out, args.cfg_options))
            outputs[direction].append(out)
    if args.dry_run:
        return {}
    aggregate = _aggregate_module()
    summaries = {}
    for direction, files in outputs.items():
        print(f'\nRegDB {direction}, {len(files)} trial(s):')
        summaries[direction] = aggregate.main(files)
    return summaries


if __name__ == '__main__':
    main()
