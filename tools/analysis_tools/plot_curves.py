"""Draw the ROC and CMC curves of one or more result files into a PNG.

A result file is what ``tools/test.py CONFIG CKPT --out FILE`` writes
(JSON, or pickle with ``.pkl``): the metrics dict. It holds curves when
the test evaluator ran with ``save_curves`` (the CMC curve) and ``roc``
(the ROC curve and AUC)::

    python tools/test.py CONFIG CKPT --out a.json --cfg-options \\
        test_evaluator.roc=True test_evaluator.save_curves=True
    python tools/analysis_tools/plot_curves.py a.json b.json --out curves.png

Keys read (``docs/evaluation.md``, "Verification ROC / AUC and curves"),
with ``<v>`` the variant's key prefix (``''``, ``'cmfp-'``, ``'rerank-'``):
``<prefix>/<v>CMC`` (matching rate in % at ranks 1, 2, ...),
``<prefix>/<v>ROC`` (``{"fpr": [...], "tpr": [...]}`` in %) and, for the
legend, ``<prefix>/<v>AUC`` and ``<prefix>/<v>R1``. Each file gives one
line per panel, labelled by its file name (or ``--labels``).
"""
import argparse
import os
import os.path as osp
import sys
from typing import Dict, List, Optional, Sequence

import numpy as np
from mmengine.fileio import load

from mmvireid.evaluation.metrics.vireid_metric import VARIANTS

CURVES = ('roc', 'cmc')
HOW_TO = ('evaluate with tools/test.py ... --out FILE --cfg-options '
          'test_evaluator.roc=True test_evaluator.save_curves=True')


def load_result(path: str) -> dict:
    """The metrics dict of a result file, or SystemExit naming the file."""
    if not osp.isfile(path):
        raise SystemExit(f'plot_curves.py: {path}: no such result file')
    try:
        result = load(path)
    except Exception as error:  # unreadable or unknown format
        raise SystemExit(f'plot_curves.py: {path}: cannot be read as a '
                         f'JSON/pickle result file ({error})') from error
    if not isinstance(result, dict):
        raise SystemExit(f'plot_curves.py: {path}: holds a '
                         f'{type(result).__name__}, not the metrics dict of '
                         'tools/test.py --out')
    return result


def find_curves(result: dict,
                path: str,
                curves: Sequence[str] = CURVES,
                variant: str = 'plain',
                prefix: Optional[str] = None) -> Dict[str, object]:
    """The requested curves of one result file.

    Args:
        result (dict): The file's metrics dict.
        path (str): The file, for the messages.
        curves (Sequence[str]): ``'roc'`` and / or ``'cmc'``.
        variant (str): ``'plain'``, ``'cmfp'`` or ``'rerank'``.
        prefix (str, optional): The metric prefix (e.g. ``'sysu-all'``);
            needed only when the file holds curves of several.

    Returns:
        dict: ``'roc'``: ``(fpr, tpr)`` arrays in %, ``'cmc'``: an array in
        %, and the legend's ``'AUC'`` / ``'R1'`` (None when absent).
    """
    tag = VARIANTS[variant]
    names = {'roc': f'{tag}ROC', 'cmc': f'{tag}CMC'}
    if prefix is None:
        found = sorted({
            key.rsplit('/', 1)[0]
            for key in result
            for c in curves if key.endswith('/' + names[c])
        })
        if not found:
            wanted = ' or '.join(f"'<prefix>/{names[c]}'" for c in curves)
            raise SystemExit(f'plot_curves.py: {path}: the result file holds '
                             f'no curves (no {wanted} key); {HOW_TO}')
        if len(found) > 1:
            raise SystemExit(f'plot_curves.py: {path}: curves of several '
                             f'metrics {found}; choose one with --prefix')
        prefix = found[0]
    out: Dict[str, object] = {}
    for curve in curves:
        key = f'{prefix}/{names[curve]}'
        if key not in result:
            raise SystemExit(f'plot_curves.py: {path}: no {key!r} key (the '
                             f'{curve.upper()} curve); {HOW_TO}')
        value = result[key]
        try:
            if curve == 'roc':
                fpr, tpr = (
                    np.asarray(value[k], dtype=np.float64)
                    for k in ('fpr', 'tpr'))
                if fpr.ndim != 1 or fpr.shape != tpr.shape or not fpr.size:
                    raise ValueError(f'fpr {fpr.shape}, tpr {tpr.shape}')
                out[curve] = (fpr, tpr)
            else:
                cmc = np.asarray(value, dtype=np.float64)
                if cmc.ndim != 1 or not cmc.size:
                    raise ValueError(f'shape {cmc.shape}')
                out[curve] = cmc
        except (KeyError, TypeError, ValueError, IndexError) as error:
            raise SystemExit(
                f'plot_curves.py: {path}: {key!r} is not a '
                f'{"dict(fpr=[...], tpr=[...])" if curve == "roc" else "list"}'
                f' of numbers ({error!r})') from error
    for name in ('AUC', 'R1'):
        out[name] = result.get(f'{prefix}/{tag}{name}')
    return out


def plot(files: Sequence[str],
         out: str,
         labels: Optional[Sequence[str]] = None,
         curves: Sequence[str] = CURVES,
         variant: str = 'plain',
         prefix: Optional[str] = None) -> str:
    """Draw the curves of ``files`` side by side and save them as a PNG.

    Args:
        files (Sequence[str]): Result files (``tools/test.py --out``).
        out (str): The PNG to write; missing folders are created.
        labels (Sequence[str], optional): Legend labels, one per file;
            defaults to the file names (their paths if two share a name).
        curves (Sequence[str]): Panels, from ``'roc'`` and ``'cmc'``.
        variant (str): The metric variant to draw.
        prefix (str, optional): The metric prefix, see :func:`find_curves`.

    Returns:
        str: ``out``.
    """
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    if labels is None:
        stems = [osp.splitext(osp.basename(f))[0] for f in files]
        labels = stems if len(set(stems)) == len(stems) else list(files)
    if len(labels) != len(files):
        raise SystemExit(f'plot_curves.py: {len(labels)} labels for '
                         f'{len(files)} result files')
    data = [
        find_curves(load_result(f), f, curves, variant, prefix) for f in files
    ]
    fig, axes = plt.subplots(
        1, len(curves), figsize=(5.5 * len(curves), 4.5), squeeze=False)
    for ax, curve in zip(axes[0], curves):
        for label, item in zip(labels, data):
            if curve == 'roc':
                score = item['AUC']
                fpr, tpr = item['roc']
                ax.plot(
                    fpr,
                    tpr,
                    label=label
                    if score is None else f'{label} (AUC {score:.2f})')
            else:
                score = item['R1']
                cmc = item['cmc']
                ax.plot(
                    np.arange(1, cmc.size + 1),
                    cmc,
                    marker='.',
                    label=label
                    if score is None else f'{label} (R1 {score:.2f})')
        if curve == 'roc':
            ax.plot([0, 100], [0, 100], ls='--', c='grey', lw=0.8)
            ax.set(
                xlabel='false positive rate (%)',
                ylabel='true positive rate (%)',
                title='verification ROC',
                xlim=(0, 100),
                ylim=(0, 100))
        else:
            ax.set(
                xlabel='rank',
                ylabel='matching rate (%)',
                title='CMC',
                ylim=(None, 100))
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.grid(alpha=0.3)
        ax.legend(loc='lower right')
    fig.tight_layout()
    if osp.dirname(out):
        os.makedirs(osp.dirname(out), exist_ok=True)
    fig.savefig(out, dpi=120, format='png')
    plt.close(fig)
    return out


def main(argv: Optional[Sequence[str]] = None) -> str:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument(
        'results', nargs='+', help='result files of tools/test.py --out')
    parser.add_argument('--out', required=True, help='the PNG to write')
    parser.add_argument(
        '--labels', nargs='+', help='legend labels, one per result file')
    parser.add_argument(
        '--curves',
        nargs='+',
        choices=CURVES,
        default=list(CURVES),
        help='panels to draw (default: roc cmc)')
    parser.add_argument(
        '--variant',
        choices=tuple(VARIANTS),
        default='plain',
        help='metric variant (default: plain)')
    parser.add_argument(
        '--prefix', help='metric prefix, when a file holds several')
    args = parser.parse_args(argv)
    curves: List[str] = list(dict.fromkeys(args.curves))
    out = plot(args.results, args.out, args.labels, curves, args.variant,
               args.prefix)
    print(f'curves of {len(args.results)} result file(s) written to {out}')
    return out


if __name__ == '__main__':
    main(sys.argv[1:])
