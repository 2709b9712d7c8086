"""Share of each training epoch spent in the clustering/association hooks.

Reads a training log written by ``tools/train.py`` (the ``<timestamp>.log``
in the work dir). ``ClusteringHook`` logs its feature extraction and its
clusterer's seconds (``JaccardDBSCAN``; ``Jaccard + DBSCAN`` in logs of
older versions), ``AssociationHook`` those of each component that ran
(refiners such as ``cmfp``, the associator; their sum here);
an epoch's wall time is the time between the last training-iteration lines
of two consecutive epochs (so the first epoch is not counted: its start is
not logged). Prints one row per epoch and the total::

    python tools/analysis_tools/hook_share.py work_dirs/salcr_synthvi/*/*.log
"""
import argparse
import datetime
import re
import sys
from typing import Dict, List, Optional, Sequence

STAMP = r'(\d\d/\d\d \d\d:\d\d:\d\d)'
CLUSTER = re.compile(r'epoch (\d+) clustering: .*\[extraction ([0-9.]+) s, '
                     r'[^\]]*?([0-9.]+) s\]')
ASSOC = re.compile(r'epoch (\d+) association: .*\[([^\]]*)\]$', re.MULTILINE)
SECONDS = re.compile(r'([0-9.]+) s\b')
ITER = re.compile(STAMP + r' - mmengine - INFO - Epoch\(train\)\s+\[(\d+)\]'
                  r'\[(\d+)/(\d+)\]')


def parse(text: str) -> List[Dict[str, float]]:
    """Per epoch (from the second): wall, extraction, clustering and
    association seconds."""
    hooks: Dict[int, Dict[str, float]] = {}
    for epoch, extract, cluster in CLUSTER.findall(text):
        hooks.setdefault(int(epoch), {}).update(
            extraction=float(extract), clustering=float(cluster))
    for epoch, ran in ASSOC.findall(text):
        hooks.setdefault(int(epoch), {})['association'] = sum(
            float(s) for s in SECONDS.findall(ran))
    ends = {}
    for stamp, epoch, it, total in ITER.findall(text):
        if it == total:
            ends[int(epoch)] = datetime.datetime.strptime(
                stamp, '%m/%d %H:%M:%S')
    rows = []
    for epoch in sorted(ends):
        if epoch - 1 not in ends:
            continue
        wall = (ends[epoch] - ends[epoch - 1]).total_seconds()
        row = dict(
            epoch=epoch,
            wall=wall,
            extraction=0.0,
            clustering=0.0,
            association=0.0)
        row.update(hooks.get(epoch, {}))
        rows.append(row)
    return rows


def format_rows(rows: List[Dict[str, float]]) -> str:
    """Markdown table with the hooks' share of every epoch and in total."""
    lines = [
        '| epoch | epoch wall s | extraction s | clustering s | '
        'association s | hooks share |', '| ---: | ---: | ---: | ---: | ---: '
        '| ---: |'
    ]
    keys = ('extraction', 'clustering', 'association')
    for row in rows + [
            dict(
                epoch='all',
                **{k: sum(r[k] for r in rows)
                   for k in ('wall', ) + keys})
    ]:
        hooks = sum(row[k] for k in keys)
        share = hooks / row['wall'] if row['wall'] else float('nan')
        lines.append(f'| {row["epoch"]} | {row["wall"]:.0f} | '
                     f'{row["extraction"]:.1f} | {row["clustering"]:.1f} | '
                     f'{row["association"]:.1f} | {100 * share:.0f}% |')
    return '\n'.join(lines)


def main(argv: Optional[Sequence[str]] = None) -> List[Dict[str, float]]:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('log', help='training log file')
    args = parser.parse_args(argv)
    with open(args.log) as f:
        rows = parse(f.read())
    if not rows:
        raise SystemExit(f'{args.log}: no two consecutive epochs logged')
    print(format_rows(rows))
    return rows


if __name__ == '__main__':
    main(sys.argv[1:])
