"""Average evaluation results over runs, e.g. the 10 RegDB trials.

RegDB's protocol trains and evaluates one model per trial (1..10) and
reports the mean. Evaluate each trial's model with ``tools/test.py ...
--out trial<N>.json`` and aggregate::

    python tools/analysis_tools/aggregate_trials.py work_dirs/regdb/trial*.json

The same works for several seeds of one config.
"""
import argparse
import glob
import json
import sys
from typing import Dict, List, Optional, Sequence

import numpy as np


def aggregate(results: List[Dict[str, float]]) -> Dict[str, dict]:
    """Mean, standard deviation and count of every metric key.

    Args:
        results (list[dict]): One metrics dict per run. Every run must
            report the same keys.

    Returns:
        dict: ``key -> dict(mean, std, n)``; ``std`` is the sample standard
        deviation (``ddof=1``; 0 for a single run).
    """
    if not results:
        raise ValueError('no result to aggregate')
    keys = list(results[0])
    for i, result in enumerate(results[1:], 1):
        if set(result) != set(keys):
            raise ValueError(f'run {i} reports keys {sorted(result)} but run '
                             f'0 reports {sorted(keys)}')
    summary = {}
    for key in keys:
        values = np.array([float(r[key]) for r in results])
        summary[key] = dict(
            mean=float(values.mean()),
            std=float(values.std(ddof=1)) if len(values) > 1 else 0.0,
            n=len(values))
    return summary


def format_table(summary: Dict[str, dict]) -> str:
    """Markdown table of ``mean ± std`` with two decimals."""
    lines = ['| metric | mean ± std | runs |', '| --- | --- | --- |']
    for key, stat in summary.items():
        lines.append(f'| {key} | {stat["mean"]:.2f} ± {stat["std"]:.2f} '
                     f'| {stat["n"]} |')
    return '\n'.join(lines)


def main(argv: Optional[Sequence[str]] = None) -> Dict[str, dict]:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument(
        'results', nargs='+', help='metrics JSON files (globs allowed)')
    parser.add_argument('--out', help='also write the summary as JSON')
    args = parser.parse_args(argv)
    files = sorted({f for pattern in args.results for f in glob.glob(pattern)})
    if not files:
        parser.error(f'no file matches {args.results}')
    results = []
    for path in files:
        with open(path) as f:
            results.append(json.load(f))
    summary = aggregate(results)
    print(f'{len(files)} run(s): {", ".join(files)}')
    print(format_table(summary))
    if args.out:
        with open(args.out, 'w') as f:
            json.dump(summary, f, indent=2)
    return summary


if __name__ == '__main__':
    main(sys.argv[1:])
