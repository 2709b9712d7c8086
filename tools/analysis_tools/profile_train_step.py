"""Host-side cost of a CPU training step, side by side for source trees.

Each ``--tree`` (a checkout of mmvireid; labelled by ``--label`` or its
``git rev-parse --short HEAD``) trains in a subprocess of its own with
``PYTHONPATH=<tree>``, so ``import mmvireid`` is that tree's package. The
subprocess is this script (``--worker``): it loads the tree's config as
``tools/train.py`` does (``mmvireid.utils.launch.load_config`` /
``prepare_launch``, ``RUNNERS.build``) and shrinks the run to what profiling
needs: 1 epoch of ``warmup + iters + profile_iters`` iterations, no
validation, test or checkpoint. ``--stage paired`` also moves the stage
switch and the association to epoch 0 (``--paired-options``; on today's
configs ``custom_hooks.stage.stages.cross.epoch=0`` and
``custom_hooks.stage.stages.intra=None``, the association follows the
stage; trees before the StageHook (c634979 and older) need
``--tree-cfg-options LABEL custom_hooks.stage_switch.switch_epoch=0
custom_hooks.association.start_epoch=0``). The epoch-0 clustering (and
association) run before the first step and are not measured.

A hook of priority ``LOWEST`` (its ``before_train_iter`` runs after every
other hook's, and so does its ``after_train_iter``) times every step:
``model.train_step`` (data preprocessing, forward, losses, memory updates,
backward, optimiser) plus the other hooks' ``after_train_iter`` (mmengine's
``RuntimeInfoHook`` reads every logged loss with ``.item()``); data loading
is timed apart (``data ms``). The trees are set up and warmed up one after
the other; then the workers take turns at round boundaries: the measured
steps run in interleaved rounds (A, B, A, B...), one tree at a time, so the
machine's load falls on all alike; in one more round each,
``torch.profiler`` records ``profile_iters`` steps (not timed), from which
the script counts per step the host-side operations that would be device
synchronisations on a GPU:

- ``item``: ``aten::_local_scalar_dense`` (``.item()``, ``bool()`` /
  ``int()`` / ``float()`` of a tensor, ``if tensor.any():``);
- ``nonzero``: ``aten::nonzero`` (boolean-mask indexing ``x[mask]``,
  ``torch.nonzero``, one-argument ``torch.where``);
- ``to_cpu``: ``Tensor.cpu()`` / ``.numpy()`` / ``.tolist()`` calls (on a
  CPU run every ``.to(device)`` is a no-op, so a device-relative copy
  cannot be told from one; the raw ``aten::to`` / ``aten::_to_copy`` /
  ``aten::copy_`` counts are in the JSON);
- ``from_host``: ``aten::lift_fresh``, a tensor built from Python data
  (``torch.tensor([...])``), which a GPU run copies to the device with a
  blocking host-to-device copy;
- ``dyn_shape``: ``unique`` / ``unique_consecutive`` / ``repeat_interleave``
  / ``masked_select``, whose output size a GPU must read back.

An operation inside another counted one (``aten::item`` ->
``aten::_local_scalar_dense``, ``repeat_interleave`` -> its ``.item()``)
counts once, as the outer one. Each counted operation is attributed to its
Python call chain (the profiler's Python frames, ``file(first line):
function``) and to who made it (:func:`origin`): ``from mmvireid`` counts
those called from the tree's package, the rest come from the backward of
its ops, mmengine's hooks and loops, or torch's optimisers. ``syncs/step``
leaves the optimiser's out (Adam's ``.item()`` of its step counters, CPU
tensors on a GPU run too, is no device sync); they are shown apart.

Results: one markdown table on stdout (step median and IQR, data time,
syncs per step by kind), and ``<out>/<stage>.json`` with every step time,
the raw op counts, the sync sites and the top-10 ops by self CPU time.

    python tools/analysis_tools/profile_train_step.py \
        --tree /work/main --tree /tmp/base --stage paired --threads 2

Options for the configs of all trees: ``--cfg-options key=value ...``; for
one tree: ``--tree-cfg-options LABEL key=value ...`` (repeatable, applied
last). The workers run in the current directory, so relative ``data_root``
paths (``data/synthvi``) of all trees resolve to one SynthVI cache.
"""
import argparse
import json
import os
import os.path as osp
import re
import subprocess
import sys
import time
from collections import Counter, defaultdict
from typing import Dict, List, Optional, Sequence

import numpy as np

DEFAULT_CONFIG = 'configs/salcr/synthvi.py'
PAIRED_OPTIONS = [
    'custom_hooks.stage.stages.intra=None',
    'custom_hooks.stage.stages.cross.epoch=0'
]
KINDS = ('item', 'nonzero', 'to_cpu', 'from_host', 'dyn_shape')
#: profiled op -> sync kind
SYNC_OPS = {
    'aten::_local_scalar_dense': 'item',
    'aten::nonzero': 'nonzero',
    'aten::lift_fresh': 'from_host',
    'aten::_unique2': 'dyn_shape',
    'aten::unique_dim': 'dyn_shape',
    'aten::unique_consecutive': 'dyn_shape',
    'aten::repeat_interleave': 'dyn_shape',
    'aten::masked_select': 'dyn_shape',
}
HOST_READ = re.compile(r'<built-in method (cpu|numpy|tolist) of Tensor')
RAW_OPS = ('aten::item', 'aten::_local_scalar_dense', 'aten::is_nonzero',
           'aten::nonzero', 'aten::index', 'aten::index_put_', 'aten::to',
           'aten::_to_copy', 'aten::copy_', 'aten::lift_fresh')
STEP_RANGE = 'profile_train_step::step'
NOISE_FRAMES = re.compile(r'torch/(utils/_contextlib|nn/modules/module)\.py|'
                          r'nn\.Module: ')
SITE_FRAMES = 4  # Python frames kept per call chain
#: who made a sync, by the first matching frame prefix (see :func:`origin`)
ORIGINS = (('optimizer', 'torch/optim/'), ('mmvireid', 'mmvireid/'),
           ('autograd', 'torch/autograd/'), ('mmengine', 'mmengine/'))
#: the run, shrunk to what profiling needs (before the user's options)
SHRINK_OPTIONS = {
    'train_cfg.max_epochs': 1,
    'val_dataloader': None,
    'val_evaluator': None,
    'val_cfg': None,
    'test_dataloader': None,
    'test_evaluator': None,
    'test_cfg': None,
    'default_hooks.checkpoint': None,
    'load_from': None,
    'resume': False,
}


# ------------------------------------------------------------ statistics
def summarise(values: Sequence[float]) -> Dict[str, float]:
    """Median, quartiles and IQR of step times (NaN for no value)."""
    if not len(values):
        nan = float('nan')
        return dict(n=0, median=nan, q1=nan, q3=nan, iqr=nan, mean=nan)
    q1, median, q3 = np.percentile(values, [25, 50, 75])
    return dict(
        n=len(values),
        median=float(median),
        q1=float(q1),
        q3=float(q3),
        iqr=float(q3 - q1),
        mean=float(np.mean(values)))


def round_starts(warmup: int,
                 iters: int,
                 rounds: int,
                 profile_iters: int = 0) -> List[int]:
    """Step indices at which a worker waits for its turn: the start of each
    measured round (``iters`` split as evenly as possible) and, with
    ``profile_iters``, of the profiled round after them."""
    sizes = [len(a) for a in np.array_split(np.arange(iters), rounds)]
    starts = list(warmup + np.cumsum([0] + sizes[:-1]))
    return [int(s) for s, n in zip(starts, sizes) if n] + \
        ([warmup + iters] if profile_iters else [])


# ------------------------------------------------------------- profiling
def _frame(event) -> Optional[str]:
    """``file(first line): function`` of a Python frame event, with the path
    from its package (``mmvireid/...``, ``mmengine/...``, ``torch/...``);
    None for other events and for wrappers (``no_grad``, ``Module.__call__``)
    that say nothing about the site."""
    if not event.is_python_function or event.name.startswith('<built-in'):
        return None
    name = re.sub(r'^.*?/((?:mmvireid|mmengine|torch)/)', r'\1', event.name)
    return None if NOISE_FRAMES.match(name) else name


def _chain(event) -> str:
    """``SITE_FRAMES`` Python frames around an event: the innermost one,
    then the next ones outside torch's wrappers (``torch/functional.py``,
    ``torch/_tensor.py``, ``torch/autograd/``...; torch's optimisers are
    kept), so a site names the code that called torch."""
    frames = [f for f in map(_frame, _ancestors(event)) if f]
    outer = [
        f for f in frames[1:]
        if not f.startswith('torch/') or f.startswith('torch/optim/')
    ]
    return ' < '.join((frames[:1] + outer)[:SITE_FRAMES])


def _sync_kind(event) -> Optional[str]:
    if event.is_python_function:
        return 'to_cpu' if HOST_READ.match(event.name) else None
    return SYNC_OPS.get(event.name)


def _ancestors(event):
    parent = event.cpu_parent
    while parent is not None:
        yield parent
        parent = parent.cpu_parent


def origin(frames: Sequence[str]) -> str:
    """Who called a sync: ``optimizer`` (torch's optimisers: Adam's
    ``.item()`` of its CPU step counters, no device sync on a GPU either),
    ``mmvireid`` (the tree's package), ``autograd`` (the backward of the
    model's ops), ``mmengine`` (its hooks and loops) or ``other``."""
    for name, prefix in ORIGINS:
        if any(f.startswith(prefix) for f in frames):
            return name
    return 'other'


def analyse_profile(events, num_steps: int) -> dict:
    """Per-step sync counts, their call sites and the top ops of the events
    inside the ``STEP_RANGE`` windows of a profile.

    Args:
        events (list[FunctionEvent]): ``profile.events()`` of a profile made
            with ``with_stack=True`` (Python frames).
        num_steps (int): Steps (windows) profiled.

    Returns:
        dict: ``syncs`` (per step, by kind and ``total``, without the
        optimiser's), ``by_origin`` (per step, see :func:`origin`),
        ``raw_ops`` and ``raw_sites`` (per step), ``sites`` (per step, by
        kind, origin, op and call chain), ``top_ops`` (by self CPU time per
        step) and ``window_ms`` (profiled time per step).
    """
    windows = [(e.time_range.start, e.time_range.end) for e in events
               if e.is_user_annotation and e.name == STEP_RANGE]
    if len(windows) != num_steps:
        raise RuntimeError(f'{len(windows)} profiled step windows, '
                           f'expected {num_steps}')

    def inside(event) -> bool:
        return any(start <= event.time_range.start <= end
                   for start, end in windows)

    kept = [e for e in events if inside(e) and e.name != STEP_RANGE]
    syncs, origins, sites, raw = Counter(), Counter(), Counter(), Counter()
    raw_sites: Dict[str, Counter] = defaultdict(Counter)
    self_us, calls = Counter(), Counter()
    for event in kept:
        if not event.is_python_function:
            if event.name in RAW_OPS:
                raw[event.name] += 1
                raw_sites[event.name][_chain(event)] += 1
            self_us[event.name] += event.self_cpu_time_total
            calls[event.name] += 1
        kind = _sync_kind(event)
        if kind is None or any(
                _sync_kind(a) is not None for a in _ancestors(event)):
            continue
        who = origin([f for f in map(_frame, _ancestors(event)) if f])
        origins[who] += 1
        if who != 'optimizer':
            syncs[kind] += 1
        sites[(kind, who, event.name, _chain(event))] += 1
    per_step = {k: syncs[k] / num_steps for k in KINDS}
    per_step['total'] = sum(per_step.values())
    top = sorted(self_us, key=self_us.get, reverse=True)[:10]
    return dict(
        steps=num_steps,
        syncs=per_step,
        by_origin={
            k: origins[k] / num_steps
            for k in [name for name, _ in ORIGINS] + ['other']
        },
        raw_ops={k: raw[k] / num_steps
                 for k in RAW_OPS},
        raw_sites={
            op: [
                dict(site=site, per_step=n / num_steps)
                for site, n in counts.most_common(10)
            ]
            for op, counts in raw_sites.items()
        },
        sites=[
            dict(kind=k, origin=who, op=op, site=site, per_step=n / num_steps)
            for (k, who, op, site), n in sites.most_common()
        ],
        top_ops=[
            dict(
                op=name,
                self_ms=self_us[name] / 1e3 / num_steps,
                calls=calls[name] / num_steps) for name in top
        ],
        window_ms=sum(e - s for s, e in windows) / 1e3 / num_steps)


# ---------------------------------------------------------------- worker
def _step_probe(starts: List[int], iters: int, profile_iters: int, ctrl):
    """The worker's timing and profiling hook (built here: mmengine is
    imported by the worker only)."""
    import torch
    from mmengine.hooks import Hook
    from torch.profiler import ProfilerActivity, profile, record_function

    class StepProbe(Hook):
        priority = 'LOWEST'

        def __init__(self) -> None:
            self.profile_start = starts[0] + iters
            self.steps: List[dict] = []
            self.loss_keys: List[str] = []
            self.profile: Optional[dict] = None
            self._prof = self._range = None
            self._start = self._end = None

        def phase(self, idx: int) -> str:
            if idx < starts[0]:
                return 'warmup'
            return 'timed' if idx < self.profile_start else 'profiled'

        def before_train_iter(self, runner, batch_idx, data_batch=None):
            data_ms = None if self._end is None else \
                (time.perf_counter() - self._end) * 1e3
            if batch_idx in starts:
                ctrl.wait(batch_idx)
            if batch_idx == self.profile_start and profile_iters:
                self._prof = profile(
                    activities=[ProfilerActivity.CPU], with_stack=True)
                self._prof.start()
            if self._prof is not None:
                self._range = record_function(STEP_RANGE)
                self._range.__enter__()
            self.steps.append(
                dict(
                    index=batch_idx,
                    phase=self.phase(batch_idx),
                    data_ms=data_ms,
                    loadavg=os.getloadavg()[0]))
            self._start = time.perf_counter()

        def after_train_iter(self,
                             runner,
                             batch_idx,
                             data_batch=None,
                             outputs=None):
            ms = (time.perf_counter() - self._start) * 1e3
            if self._range is not None:
                self._range.__exit__(None, None, None)
                self._range = None
            self.steps[-1]['ms'] = ms
            if not self.loss_keys and outputs:
                self.loss_keys = sorted(outputs)
            self.steps[-1]['loss'] = float(
                torch.as_tensor(outputs['loss']).detach()) if outputs and \
                'loss' in outputs else None
            last = self.profile_start + profile_iters - 1
            if batch_idx == last and self._prof is not None:
                self._prof.stop()
                self.profile = analyse_profile(self._prof.events(),
                                               profile_iters)
                self._prof = None
            self._end = time.perf_counter()

    return StepProbe()


class _Control:
    """The worker's end of the round protocol (``ready <step>`` / ``go``)."""

    def __init__(self, fds: str) -> None:
        read_fd, write_fd = map(int, fds.split(','))
        self.read = os.fdopen(read_fd, 'r')
        self.write = os.fdopen(write_fd, 'w')

    def send(self, message: str) -> None:
        self.write.write(message + '\n')
        self.write.flush()

    def wait(self, step: int) -> None:
        self.send(f'ready {step}')
        line = self.read.readline().strip()
        if line != 'go':
            raise RuntimeError(f'worker: expected "go", got {line!r}')


def worker(args: argparse.Namespace) -> None:
    """Train the shrunk run of one tree and write its measurements."""
    import torch
    from mmengine.registry import RUNNERS
    from mmengine.runner import Runner

    import mmvireid
    from mmvireid.utils import register_all_modules
    from mmvireid.utils.launch import load_config, prepare_launch

    tree = osp.realpath(args.tree[0])
    package = osp.realpath(mmvireid.__file__)
    if not package.startswith(tree + os.sep):
        raise RuntimeError(f'mmvireid resolves to {package}, not to the '
                           f'tree {tree}: check PYTHONPATH')
    ctrl = _Control(args.ctrl_fds)
    os.environ.setdefault('LOCAL_RANK', '0')
    register_all_modules(init_default_scope=False)
    starts = round_starts(args.warmup, args.iters, args.rounds,
                          args.profile_iters)
    options = dict(SHRINK_OPTIONS)
    options['train_dataloader.sampler.iters_per_epoch'] = \
        args.warmup + args.iters + args.profile_iters
    options.update(args.cfg_options or {})
    cfg = load_config(
        osp.join(tree, args.config),
        cfg_options=options,
        work_dir=args.work_dir)
    prepare_launch(cfg, args.threads)
    runner = RUNNERS.build(cfg) if 'runner_type' in cfg else \
        Runner.from_cfg(cfg)
    probe = _step_probe(starts, args.iters, args.profile_iters, ctrl)
    runner.register_hook(probe, priority='LOWEST')
    runner.train()
    result = dict(
        tree=tree,
        package=package,
        config=args.config,
        torch=torch.__version__,
        threads=torch.get_num_threads(),
        cfg_options={
            k: repr(v)
            for k, v in options.items()
        },
        loss_keys=probe.loss_keys,
        steps=probe.steps,
        profile=probe.profile)
    with open(args.result, 'w') as f:
        json.dump(result, f, indent=1)
    ctrl.send('done')


# ---------------------------------------------------------------- parent
def git_label(tree: str) -> str:
    """``git rev-parse --short HEAD`` of a tree (``'?'`` outside git)."""
    out = subprocess.run(['git', '-C', tree, 'rev-parse', '--short', 'HEAD'],
                         capture_output=True,
                         text=True)
    return out.stdout.strip() if out.returncode == 0 else '?'


def tree_labels(trees: List[str], labels: Optional[List[str]]) -> List[str]:
    """``--label`` of each tree, else its short commit; repeated names get
    ``#2``, ``#3``... suffixes."""
    labels = list(labels or [])
    if len(labels) > len(trees):
        raise SystemExit('more --label than --tree')
    labels += [git_label(t) for t in trees[len(labels):]]
    seen: Counter = Counter()
    unique = []
    for label in labels:
        seen[label] += 1
        unique.append(label if seen[label] == 1 else f'{label}#{seen[label]}')
    return unique


class Worker:
    """One tree's worker process and the parent's end of its protocol."""

    def __init__(self, label: str, tree: str, args: argparse.Namespace,
                 options: List[str]) -> None:
        self.label = label
        safe = re.sub(r'[^\w.-]', '_', label)
        self.result = osp.join(args.out, f'{safe}_{args.stage}.json')
        self.log_path = osp.join(args.out, f'{safe}_{args.stage}.log')
        to_worker, from_parent = os.pipe()
        from_worker, to_parent = os.pipe()
        flags = {
            'tree': tree,
            'config': args.config,
            'stage': args.stage,
            'warmup': args.warmup,
            'iters': args.iters,
            'rounds': args.rounds,
            'profile-iters': args.profile_iters,
            'threads': args.threads,
            'result': self.result,
            'work-dir': osp.join(args.out, 'work', f'{safe}_{args.stage}'),
            'ctrl-fds': f'{to_worker},{to_parent}',
        }
        cmd = [sys.executable, osp.abspath(__file__), '--worker']
        for flag, value in flags.items():
            cmd += [f'--{flag}', str(value)]
        if options:
            cmd += ['--cfg-options'] + options
        env = dict(
            os.environ,
            PYTHONPATH=os.pathsep.join(
                [tree] + [p for p in [os.environ.get('PYTHONPATH')] if p]),
            OMP_NUM_THREADS=str(args.threads),
            MKL_NUM_THREADS=str(args.threads))
        self.log = open(self.log_path, 'w')
        self.proc = subprocess.Popen(
            cmd,
            env=env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            pass_fds=(to_worker, to_parent))
        os.close(to_worker)
        os.close(to_parent)
        self.send_end = os.fdopen(from_parent, 'w')
        self.recv_end = os.fdopen(from_worker, 'r')

    def receive(self) -> str:
        """The worker's next message; fails with its log if it died."""
        line = self.recv_end.readline().strip()
        if not line:
            self.proc.wait()
            self.log.close()
            with open(self.log_path) as f:
                tail = f.read()[-4000:]
            raise RuntimeError(f'worker {self.label} exited with '
                               f'{self.proc.returncode}:\n{tail}')
        return line

    def go(self) -> str:
        self.send_end.write('go\n')
        self.send_end.flush()
        return self.receive()

    def finish(self) -> dict:
        self.proc.wait()
        self.log.close()
        with open(self.result) as f:
            return json.load(f)


def tree_options(args: argparse.Namespace,
                 labels: List[str]) -> Dict[str, List[str]]:
    """``key=value`` options of each tree: stage, all trees, its own."""
    common = (args.paired_options if args.stage == 'paired' else []) + \
        (args.cfg_options or [])
    own: Dict[str, List[str]] = defaultdict(list)
    for label, *pairs in args.tree_cfg_options or []:
        if label not in labels:
            raise SystemExit(f'--tree-cfg-options {label}: no tree of that '
                             f'label (labels: {labels})')
        own[label] += pairs
    return {label: common + own[label] for label in labels}


def run_trees(args: argparse.Namespace) -> dict:
    """Start a worker per tree, run the interleaved rounds, collect."""
    os.makedirs(args.out, exist_ok=True)
    labels = tree_labels(args.tree, args.label)
    options = tree_options(args, labels)
    workers: List[Worker] = []
    try:
        for label, tree in zip(labels, args.tree):
            # set-up and warm-up, one tree after the other (on a small
            # machine, concurrent set-ups over-subscribe the cores)
            workers.append(Worker(label, tree, args, options[label]))
            workers[-1].receive()
        for _ in round_starts(args.warmup, args.iters, args.rounds,
                              args.profile_iters):
            for w in workers:  # one tree at a time, exits included
                if w.go() == 'done':
                    w.proc.wait()
        results = {w.label: w.finish() for w in workers}
    finally:
        for w in workers:
            if w.proc.poll() is None:
                w.proc.kill()
    runs = {}
    for label, tree in zip(labels, args.tree):
        res = results[label]
        timed = [s for s in res['steps'] if s['phase'] == 'timed']
        runs[label] = dict(
            res,
            commit=git_label(tree),
            options=options[label],
            step_ms=summarise([s['ms'] for s in timed]),
            data_ms=summarise(
                [s['data_ms'] for s in timed if s['data_ms'] is not None]))
    return dict(
        stage=args.stage,
        config=args.config,
        warmup=args.warmup,
        iters=args.iters,
        rounds=args.rounds,
        profile_iters=args.profile_iters,
        threads=args.threads,
        runs=runs)


def format_tables(results: dict, num_sites: int = 8) -> str:
    """The side-by-side markdown table, then each tree's top sync sites."""
    lines = [
        f"{results['config']}, stage {results['stage']}, {results['iters']} "
        f"measured steps in {results['rounds']} interleaved rounds (after "
        f"{results['warmup']} warm-up), syncs from "
        f"{results['profile_iters']} profiled steps, "
        f"{results['threads']} threads", '',
        '| tree | commit | step median ms | IQR ms | data ms | item | '
        'nonzero | to_cpu | from_host | dyn_shape | syncs/step | '
        'from mmvireid | optimizer (no sync) |', '|' + ' --- |' * 14
    ]
    nan = float('nan')
    for label, run in results['runs'].items():
        step, data = run['step_ms'], run['data_ms']
        prof = run.get('profile') or {}
        syncs, origins = prof.get('syncs', {}), prof.get('by_origin', {})
        counts = [syncs.get(k, nan) for k in KINDS + ('total', )] + \
            [origins.get('mmvireid', nan), origins.get('optimizer', nan)]
        lines.append(f"| {label} | {run['commit']} | {step['median']:.0f} | "
                     f"{step['iqr']:.0f} | {data['median']:.0f} | " +
                     ' | '.join(f'{c:g}' for c in counts) + ' |')
    for label, run in results['runs'].items():
        sites = (run.get('profile') or {}).get('sites', [])[:num_sites]
        if not sites:  # not profiled (--profile-iters 0)
            continue
        lines += [
            '', f'{label}: most frequent sync sites (per step)', '',
            '| kind | origin | op | per step | call chain (innermost first) |',
            '| --- | --- | --- | --- | --- |'
        ]
        lines += [
            f"| {s['kind']} | {s['origin']} | {s['op']} | {s['per_step']:g} "
            f"| {s['site']} |" for s in sites
        ]
    return '\n'.join(lines)


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument(
        '--tree',
        action='append',
        required=True,
        help='source tree (repeat for side by side); a tree may be given '
        'twice (an A/A check of the noise)')
    parser.add_argument(
        '--label', action='append', help='label of each --tree, in order')
    parser.add_argument(
        '--config',
        default=DEFAULT_CONFIG,
        help='config path relative to each tree')
    parser.add_argument(
        '--stage', choices=['intra', 'paired'], default='intra')
    parser.add_argument(
        '--iters', type=int, default=10, help='measured steps per tree')
    parser.add_argument('--warmup', type=int, default=2)
    parser.add_argument(
        '--rounds',
        type=int,
        default=None,
        help='interleaved rounds (default: min(iters, 5))')
    parser.add_argument('--profile-iters', type=int, default=2)
    parser.add_argument('--threads', type=int, default=2)
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        default=[],
        help='key=value config overrides of every tree')
    parser.add_argument(
        '--tree-cfg-options',
        nargs='+',
        action='append',
        metavar='LABEL_OR_OPTION',
        help='LABEL key=value ...: overrides of one tree (applied last)')
    parser.add_argument(
        '--paired-options',
        nargs='*',
        default=PAIRED_OPTIONS,
        help='overrides of --stage paired (default: %(default)s)')
    parser.add_argument('--out', default='work_dirs/profile_train_step')
    # the worker's own arguments
    parser.add_argument(
        '--worker', action='store_true', help=argparse.SUPPRESS)
    parser.add_argument('--result', help=argparse.SUPPRESS)
    parser.add_argument('--work-dir', help=argparse.SUPPRESS)
    parser.add_argument('--ctrl-fds', help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.iters < 1 or args.warmup < 0 or args.profile_iters < 0:
        parser.error('--iters must be >= 1, --warmup and --profile-iters '
                     '>= 0')
    if args.rounds is None:
        args.rounds = min(args.iters, 5)
    args.rounds = max(1, min(args.rounds, args.iters))
    return args


def main(argv: Optional[List[str]] = None) -> dict:
    """Profile the trees; returns the results (also printed and saved)."""
    args = parse_args(argv)
    if args.worker:
        from mmengine.config import DictAction
        options = argparse.ArgumentParser()
        options.add_argument('--cfg-options', nargs='+', action=DictAction)
        args.cfg_options = options.parse_args(
            ['--cfg-options'] + args.cfg_options).cfg_options \
            if args.cfg_options else {}
        worker(args)
        return {}
    results = run_trees(args)
    table = format_tables(results)
    results['table'] = table
    path = osp.join(args.out, f'{args.stage}.json')
    with open(path, 'w') as f:
        json.dump(results, f, indent=1)
    print(table)
    print(f'\nwritten: {path}')
    return results


if __name__ == '__main__':
    main()
