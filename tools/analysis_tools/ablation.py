"""Run a method's ablation rows x seeds on SynthVI and tabulate them.

What is ablated is data: ``configs/<method>/ablation.yml`` (the argument is
that folder or the file itself) lists the rows, the roles of some of them
and the method's learning bar::

    rows:                      # table order; --rows takes the keys
      - {key: baseline, label: baseline,
         config: configs/salcr/synthvi_baseline.py}
      - {key: full, label: +CMFP(tr) = full, config: configs/salcr/synthvi.py}
    baseline: baseline         # row key: the Δ column and the bars use it
    full: full                 # row key: the complete method
    ceiling: ceiling           # optional row key: a supervised upper bound
    bars:                      # optional, checked in this order
      - {type: gain, row: full, min: 10}             # row − baseline ≥ min
      - {type: gain_over_std, row: full, factor: 3}  # gain > factor × std
      - {type: association, row: full, factor: 20}   # acc ≥ factor × chance
    metric_prefix: synthvi-all         # optional (default shown)
    association: infrared->visible     # optional (default shown)
    readme_markers: ['<!-- ablation-table -->', '<!-- /ablation-table -->']
    work_dir: work_dirs/salcr_ablation # optional: work_dirs/<folder>_ablation

``config`` paths are relative to the repository root, as in
``metafile.yml``. In ``gain_over_std`` the std is the larger seed std of
the row and the baseline; ``association`` divides the row's last
association accuracy by its chance level. The bar lines name the
``full`` and ``baseline`` rows by their role and other rows by label. A
spec is a YAML file rather than a Python config because every ``*.py``
under ``configs/`` is built as a training config by the tests, and it is
not part of ``metafile.yml`` because that file keeps OpenMMLab's
model-index schema.

Every (row, seed) trains with ``tools/train.py CONFIG --cfg-options
randomness.seed=SEED`` in its own work dir (``<config name>_seed<SEED>``,
``--jobs`` at a time, each with ``--threads`` torch threads); the final
validation (SYSU all-search protocol, 10 trials) is read from the run's
``scalars.json`` and the last association accuracy from its log. The
script prints a markdown table of mean ± std over seeds (IR→visible R1 /
mAP / mINP, association accuracy against chance, mAP gain over the
baseline, and the mAP of the same model with test-time CMFP re-ranking,
``<metric_prefix>/cmfp-mAP``, where the evaluator reports it), checks the
bars and, with ``--readme``, writes the table between the spec's markers
of that file. A finished run (its ``scalars.json`` holds the metric) is not
run again, so an interrupted invocation resumes.

    python tools/analysis_tools/ablation.py configs/salcr --seeds 0 1 2 \
        --jobs 2 --threads 1 --readme configs/salcr/README.md
"""
import argparse
import datetime
import glob
import json
import os
import os.path as osp
import platform
import re
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
import yaml

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
SPEC_FILE = 'ablation.yml'
DEFAULT_PREFIX = 'synthvi-all'
DEFAULT_PAIR = 'infrared->visible'
DEFAULT_MARKERS = ('<!-- ablation-table -->', '<!-- /ablation-table -->')
# the threshold key of each bar type
BAR_TYPES = {'gain': 'min', 'gain_over_std': 'factor', 'association': 'factor'}
SPEC_KEYS = {
    'rows', 'baseline', 'full', 'ceiling', 'bars', 'metric_prefix',
    'association', 'readme_markers', 'work_dir'
}
# runs from before the configs had one metric for plain and test-time CMFP
# logged the latter under a second prefix
LEGACY_TEST_CMFP = 'cmfp-te/cmfp-mAP'


@dataclass(frozen=True)
class Row:
    """One ablation row: ``key`` for ``--rows``, ``label`` for the table,
    ``config`` as written in the spec (from the repository root)."""
    key: str
    label: str
    config: str

    @property
    def path(self) -> str:
        """Absolute path of the row's config."""
        return osp.join(ROOT, self.config)

    @property
    def slug(self) -> str:
        """The config's name, which prefixes the row's work dirs."""
        return osp.splitext(osp.basename(self.config))[0]


@dataclass(frozen=True)
class Bar:
    """One criterion of the learning bar (``type`` in :data:`BAR_TYPES`)
    on the row ``row`` (a key), with its ``min`` or ``factor``."""
    type: str
    row: str
    threshold: float


@dataclass(frozen=True)
class AblationSpec:
    """A method's ablation, as loaded from its ``ablation.yml``."""
    path: str
    rows: Tuple[Row, ...]
    baseline: str
    full: str
    ceiling: Optional[str]
    bars: Tuple[Bar, ...]
    metric_prefix: str
    association: str
    readme_markers: Tuple[str, str]
    work_dir: str

    def row(self, key: str) -> Row:
        """The row with ``key``."""
        return next(row for row in self.rows if row.key == key)

    def name(self, key: str) -> str:
        """How the bar lines name a row: its role or its label."""
        roles = {self.full: 'full', self.baseline: 'baseline'}
        return roles.get(key, self.row(key).label)


def _string(value, where: str) -> str:
    if not isinstance(value, str) or not value:
        raise ValueError(f'{where}: expected a non-empty string, got '
                         f'{value!r}')
    return value


def _keys(entry, allowed: set, required: set, where: str) -> dict:
    if not isinstance(entry, dict):
        raise ValueError(f'{where}: expected a mapping, got {entry!r}')
    unknown = sorted(set(entry) - allowed)
    if unknown:
        raise ValueError(f'{where}: unknown key(s) {unknown} (allowed: '
                         f'{sorted(allowed)})')
    missing = sorted(required - set(entry))
    if missing:
        raise ValueError(f'{where}: missing key(s) {missing}')
    return entry


def _rows(entries, where: str) -> Tuple[Row, ...]:
    if not isinstance(entries, list) or not entries:
        raise ValueError(f'{where}: expected a non-empty list of rows')
    rows = []
    for i, entry in enumerate(entries):
        at = f'{where}[{i}]'
        fields = {'key', 'label', 'config'}
        entry = _keys(entry, fields, fields, at)
        row = Row(*(_string(entry[k], f'{at}.{k}')
                    for k in ('key', 'label', 'config')))
        if not osp.isfile(row.path):
            raise ValueError(f'{at}.config: {row.config} does not exist '
                             f'(looked for {row.path})')
        for field in ('key', 'label', 'slug'):
            value = getattr(row, field)
            taken = [getattr(r, field) for r in rows]
            if value in taken:
                why = ' (their work dirs would be the same)' \
                    if field == 'slug' else ''
                raise ValueError(f'{at}: {field} {value!r} is also that of '
                                 f'{where}[{taken.index(value)}]{why}')
        rows.append(row)
    return tuple(rows)


def _bars(entries, keys: Sequence[str], where: str) -> Tuple[Bar, ...]:
    if not isinstance(entries, list):
        raise ValueError(f'{where}: expected a list, got {entries!r}')
    bars = []
    for i, entry in enumerate(entries):
        at = f'{where}[{i}]'
        if not isinstance(entry, dict) or 'type' not in entry:
            raise ValueError(f'{at}: expected a mapping with a type, got '
                             f'{entry!r}')
        kind = entry['type']
        if kind not in BAR_TYPES:
            raise ValueError(f'{at}.type: {kind!r} is not one of '
                             f'{sorted(BAR_TYPES)}')
        threshold = BAR_TYPES[kind]
        entry = _keys(entry, {'type', 'row', threshold},
                      {'type', 'row', threshold}, at)
        if entry['row'] not in keys:
            raise ValueError(f'{at}.row: {entry["row"]!r} is not a row key '
                             f'({", ".join(keys)})')
        value = entry[threshold]
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ValueError(f'{at}.{threshold}: expected a number, got '
                             f'{value!r}')
        bars.append(Bar(kind, entry['row'], float(value)))
    return tuple(bars)


def load_spec(path: str) -> AblationSpec:
    """Read and check an ablation spec.

    Args:
        path (str): ``configs/<method>`` (its ``ablation.yml`` is read) or
            the spec file itself.

    Returns:
        AblationSpec: the rows (every config checked to exist), roles,
        bars and reading settings, with defaults filled in.

    Raises:
        ValueError: naming the file, the key and the value at fault.
    """
    if osp.isdir(path):
        folder, path = path, osp.join(path, SPEC_FILE)
        if not osp.isfile(path):
            raise ValueError(f'{folder} has no {SPEC_FILE}')
    elif not osp.isfile(path):
        raise ValueError(f'{path}: no such method folder or spec file')
    with open(path) as f:
        try:
            data = yaml.safe_load(f)
        except yaml.YAMLError as e:
            raise ValueError(f'{path}: not valid YAML: {e}') from e
    data = _keys(data, SPEC_KEYS, {'rows', 'baseline', 'full'}, path)
    rows = _rows(data['rows'], f'{path}: rows')
    keys = [row.key for row in rows]
    roles = {}
    for role in ('baseline', 'full', 'ceiling'):
        key = data.get(role)
        if role != 'ceiling' or key is not None:
            _string(key, f'{path}: {role}')
        if key is not None and key not in keys:
            raise ValueError(f'{path}: {role}: {key!r} is not a row key '
                             f'({", ".join(keys)})')
        roles[role] = key
    markers = data.get('readme_markers', list(DEFAULT_MARKERS))
    if (not isinstance(markers, list) or len(markers) != 2
            or markers[0] == markers[1]):
        raise ValueError(f'{path}: readme_markers: expected two different '
                         f'strings (start, end), got {markers!r}')
    method = osp.basename(osp.dirname(osp.abspath(path)))
    return AblationSpec(
        path=path,
        rows=rows,
        bars=_bars(data.get('bars', []), keys, f'{path}: bars'),
        metric_prefix=_string(
            data.get('metric_prefix', DEFAULT_PREFIX),
            f'{path}: metric_prefix'),
        association=_string(
            data.get('association', DEFAULT_PAIR), f'{path}: association'),
        readme_markers=tuple(
            _string(m, f'{path}: readme_markers') for m in markers),
        work_dir=_string(
            data.get('work_dir', f'work_dirs/{method}_ablation'),
            f'{path}: work_dir'),
        **roles)


def read_run(work_dir: str,
             metric_prefix: str = DEFAULT_PREFIX,
             association: str = DEFAULT_PAIR) -> Optional[Dict[str, float]]:
    """Final metrics (and last association accuracy) of a finished run.

    Args:
        work_dir (str): the run's ``--work-dir``.
        metric_prefix (str): the evaluator prefix of the metrics.
        association (str): the ``source->destination`` pair whose accuracy
            is read from the log.

    Returns:
        dict | None: the metrics without prefix (plus ``te_mAP``, the mAP
        with test-time CMFP, and ``assoc`` / ``chance`` in %), or None if
        no ``scalars.json`` holds ``<metric_prefix>/mAP``.
    """
    metrics = None
    test_cmfp = (f'{metric_prefix}/cmfp-mAP', LEGACY_TEST_CMFP)
    for path in sorted(
            glob.glob(osp.join(work_dir, '*', 'vis_data', 'scalars.json'))):
        with open(path) as f:
            for line in f:
                record = json.loads(line)
                if f'{metric_prefix}/mAP' in record:
                    metrics = {
                        k.split('/', 1)[1]: float(v)
                        for k, v in record.items()
                        if k.startswith(metric_prefix + '/')
                    }
                    te_mAP = [record[k] for k in test_cmfp if k in record]
                    if te_mAP:
                        metrics['te_mAP'] = float(te_mAP[0])
                    run_dir = osp.dirname(osp.dirname(path))
                    log = osp.join(run_dir, osp.basename(run_dir) + '.log')
                    metrics.update(_association(log, association))
    return metrics


def _association(log_path: str, pair: str) -> Dict[str, float]:
    """The last ``pair`` accuracy of the ``association:`` log lines (the
    pair may come after others on its line)."""
    pattern = re.compile(r'association: (?:[^\n]*?; )?' + re.escape(pair) +
                         r' accuracy ([0-9.]+) \(chance ([0-9.]+)\)')
    found = []
    if osp.isfile(log_path):
        with open(log_path) as f:
            found = pattern.findall(f.read())
    if not found:
        return {}
    acc, chance = found[-1]
    return dict(assoc=100 * float(acc), chance=100 * float(chance))


def train(config: str, seed: int, work_dir: str, threads: int,
          extra: Sequence[str],
          spec: AblationSpec) -> Tuple[Dict[str, float], float]:
    """Train one (row, seed) unless finished; metrics and wall seconds
    (NaN for a finished run)."""
    done = read_run(work_dir, spec.metric_prefix, spec.association)
    if done is not None:
        return done, float('nan')
    os.makedirs(work_dir, exist_ok=True)
    cmd = [
        sys.executable,
        osp.join(ROOT, 'tools', 'train.py'), config, '--work-dir', work_dir,
        '--threads',
        str(threads), '--cfg-options', f'randomness.seed={seed}', *extra
    ]
    start = time.perf_counter()
    with open(osp.join(work_dir, 'stdout.txt'), 'w') as out:
        proc = subprocess.run(
            cmd, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT)
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        raise RuntimeError(f'{" ".join(cmd)} failed (exit {proc.returncode}'
                           f'); see {work_dir}/stdout.txt')
    metrics = read_run(work_dir, spec.metric_prefix, spec.association)
    if metrics is None:
        raise RuntimeError(f'{config} (seed {seed}) finished without a '
                           f'{spec.metric_prefix}/mAP result in {work_dir}')
    return metrics, elapsed


def summarise(runs: Dict[str, List[Dict[str, float]]]) -> Dict[str, dict]:
    """Per row: mean and sample std of every metric, and the mAP list."""
    out = {}
    for row, results in runs.items():
        keys = set.intersection(*(set(r) for r in results))
        out[row] = {
            k: (float(np.mean([r[k] for r in results])),
                float(np.std([r[k] for r in results], ddof=1))
                if len(results) > 1 else 0.0)
            for k in keys
        }
        out[row]['mAP_runs'] = [r['mAP'] for r in results]
    return out


def format_table(summary: Dict[str, dict], spec: AblationSpec) -> str:
    """Markdown table of the rows of ``summary`` (keyed by row key), in
    the spec's order (mean ± std over seeds)."""

    def cell(stats, key):
        if key not in stats:
            return '–'
        mean, std = stats[key]
        return f'{mean:.1f} ± {std:.1f}'

    base = summary.get(spec.baseline, {}).get('mAP', (None, ))[0]
    lines = [
        '| row | IR→V R1 | IR→V mAP | mINP | Δ mAP vs baseline | '
        'association acc. % (chance %) | mAP per seed | '
        'mAP + CMFP(te) |', '| --- | --- | --- | --- | --- | --- | --- | --- |'
    ]
    for row in spec.rows:
        if row.key not in summary:
            continue
        stats = summary[row.key]
        delta = '–' if base is None or row.key == spec.baseline else \
            f'{stats["mAP"][0] - base:+.1f}'
        assoc = '–' if 'assoc' not in stats else \
            f'{stats["assoc"][0]:.1f} ({stats["chance"][0]:.2f})'
        per_seed = ' / '.join(f'{v:.1f}' for v in stats['mAP_runs'])
        lines.append(f'| {row.label} | {cell(stats, "R1")} | '
                     f'{cell(stats, "mAP")} | {cell(stats, "mINP")} | '
                     f'{delta} | {assoc} | {per_seed} | '
                     f'{cell(stats, "te_mAP")} |')
    return '\n'.join(lines)


def check_bar(summary: Dict[str, dict], spec: AblationSpec) -> List[str]:
    """The spec's learning bar, one line per criterion whose rows ran."""
    lines = []
    base = summary.get(spec.baseline)
    for bar in spec.bars:
        row = summary.get(bar.row)
        name = spec.name(bar.row)
        subject = '' if bar.row == spec.full else f'{name}: '
        if bar.type == 'association':
            if not row or 'assoc' not in row:
                continue
            ratio = row['assoc'][0] / max(row['chance'][0], 1e-9)
            met = ratio >= bar.threshold
            lines.append(f'{subject}association accuracy = {ratio:.0f}× '
                         f'chance (bar ≥ {bar.threshold:g}×): ')
        else:
            if not row or not base:
                continue
            gain = row['mAP'][0] - base['mAP'][0]
            if bar.type == 'gain':
                met = gain >= bar.threshold
                lines.append(f'{name} − {spec.name(spec.baseline)} = '
                             f'{gain:+.1f} mAP (bar ≥ {bar.threshold:+g}): ')
            else:
                spread = max(row['mAP'][1], base['mAP'][1])
                met = gain > bar.threshold * spread
                lines.append(f'{subject}gap / largest seed std = {gain:.1f}'
                             f' / {spread:.1f} (bar > {bar.threshold:g}×): ')
        lines[-1] += 'met' if met else 'NOT met'
    return lines


def _split(text: str, path: str, markers: Sequence[str]) -> Tuple[str, str]:
    start, end = markers
    if start not in text or end not in text.split(start, 1)[1]:
        raise ValueError(f'{path} lacks the markers {start} ... {end}')
    head, rest = text.split(start, 1)
    return head, rest.split(end, 1)[1]


def check_readme(path: str, markers: Sequence[str] = DEFAULT_MARKERS) -> None:
    """Raise ``ValueError`` unless ``path`` holds the markers (checked
    before the runs start, not after hours of training)."""
    if not osp.isfile(path):
        raise ValueError(f'--readme {path}: no such file')
    with open(path) as f:
        _split(f.read(), path, markers)


def write_readme(path: str,
                 block: str,
                 markers: Sequence[str] = DEFAULT_MARKERS) -> None:
    """Replace the text between the markers of ``path`` by ``block``."""
    with open(path) as f:
        head, tail = _split(f.read(), path, markers)
    start, end = markers
    tmp = path + '.tmp'
    with open(tmp, 'w') as f:
        f.write(f'{head}{start}\n{block}\n{end}{tail}')
    os.replace(tmp, path)


def main(argv: Optional[Sequence[str]] = None) -> Dict[str, dict]:
    """Run the rows x seeds, print (and write) the table and the bar.

    Returns:
        dict: :func:`summarise` of the runs, keyed by row key.
    """
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument(
        'spec', help=f'configs/<method> (its {SPEC_FILE}) or a spec file')
    parser.add_argument(
        '--rows', nargs='+', help='row keys to run (default: all)')
    parser.add_argument('--seeds', nargs='+', type=int, default=[0, 1, 2])
    parser.add_argument('--jobs', type=int, default=1, help='parallel runs')
    parser.add_argument(
        '--threads', type=int, default=2, help='torch threads per run')
    parser.add_argument('--work-dir', help="default: the spec's work_dir")
    parser.add_argument(
        '--readme', help='markdown file to write the table into')
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        default=[],
        help='extra overrides for every run (key=value)')
    args = parser.parse_args(argv)
    try:
        spec = load_spec(args.spec)
        if args.readme:
            check_readme(args.readme, spec.readme_markers)
    except ValueError as e:
        parser.error(str(e))
    keys = [row.key for row in spec.rows]
    unknown = [key for key in args.rows or [] if key not in keys]
    if unknown:
        parser.error(f'--rows {" ".join(unknown)}: not a row of {spec.path}'
                     f' (rows: {" ".join(keys)})')
    chosen = set(args.rows or keys)
    work_root = args.work_dir or spec.work_dir
    tasks = [(row, seed) for row in spec.rows if row.key in chosen
             for seed in args.seeds]

    def run(task):
        row, seed = task
        metrics, elapsed = train(
            row.path, seed,
            osp.abspath(osp.join(work_root, f'{row.slug}_seed{seed}')),
            args.threads, args.cfg_options, spec)
        print(
            f'{row.label:>20} seed {seed}: mAP {metrics["mAP"]:.2f} R1 '
            f'{metrics["R1"]:.2f}' +
            ('' if elapsed != elapsed else f' ({elapsed:.0f} s)'),
            flush=True)
        return row.key, metrics

    runs: Dict[str, List[Dict[str, float]]] = {}
    with ThreadPoolExecutor(max(1, args.jobs)) as pool:
        for key, metrics in pool.map(run, tasks):
            runs.setdefault(key, []).append(metrics)
    summary = summarise(runs)
    table = format_table(summary, spec)
    bar = check_bar(summary, spec)
    command = 'python tools/analysis_tools/ablation.py ' + ' '.join(
        argv if argv is not None else sys.argv[1:])
    block = '\n'.join([
        f'Produced by `{command}` on '
        f'{datetime.date.today().isoformat()}, {os.cpu_count()} CPU cores '
        f'({platform.machine()}), seeds '
        f'{", ".join(map(str, args.seeds))}; SynthVI default generator, '
        'SYSU all-search protocol (mean of 10 trials), IR→visible.', '', table,
        ''
    ] + [f'- {line}' for line in bar])
    print(block)
    if args.readme:
        write_readme(args.readme, block, spec.readme_markers)
    return summary


if __name__ == '__main__':
    main()
