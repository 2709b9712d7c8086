"""Time the per-epoch clustering step against the reference formulation.

Generates SYSU-MM01-sized synthetic features (seeded; identity-like clusters
of log-normal sizes on the unit sphere plus a few scattered outliers) and,
per modality, runs in the same invocation:

- ``k-NN floor``: the bare exact k-NN search, chunked torch matmul + top-k
  (:func:`mmvireid.utils.knn.topk_similarity`, k = the ranking length);
- ``ours``: :func:`k_reciprocal_jaccard` (sparse, vectorised; storing the
  pairs within eps as :func:`cluster_dbscan` does, or with ``--all-pairs``
  every pair closer than 1) + DBSCAN on it (:func:`sparse_dbscan`);
- ``baseline``: ``baselines/cluster_contrast_jaccard.py``, the dense,
  looped Cluster-Contrast formulation, + DBSCAN on the dense matrix.

Each variant runs in its own fresh (spawned) child process that loads the
features from a ``.npy`` file. Memory is the child's peak resident set size
(``getrusage(RUSAGE_SELF).ru_maxrss``, exact, kernel-tracked) minus its
resident size once the features are loaded, i.e. what the variant allocates
beyond the features. The labels of ours and the baseline must be the same
partition (same outliers, clusters equal up to renumbering); exit code 1
otherwise.

    # SYSU size (visible 22258, infrared 11909, d=2048); minutes
    python tools/analysis_tools/benchmark_clustering.py
    # CI check: small sizes, equality only
    python tools/analysis_tools/benchmark_clustering.py --quick
"""
import argparse
import importlib.util
import os
import os.path as osp
import sys
import tempfile
import time
from typing import Optional, Sequence

import numpy as np
import torch
import torch.nn.functional as F

HERE = osp.dirname(osp.abspath(__file__))
bench = importlib.util.module_from_spec(
    importlib.util.spec_from_file_location(
        'benchmark_utils', osp.join(HERE, 'benchmark_utils.py')))
bench.__spec__.loader.exec_module(bench)
load_baseline = bench.load_baseline


def sysu_like_features(num: int,
                       num_clusters: int,
                       dim: int,
                       noise: float,
                       outliers: float = 0.03,
                       seed: int = 0) -> np.ndarray:
    """(num, dim) float32 unit vectors with identity-like cluster structure.

    Cluster sizes are log-normal (sigma 0.5) around ``num / num_clusters``;
    each sample is its cluster centre plus isotropic noise of norm about
    ``noise`` (scaled per sample by U(0.8, 1.2)); a fraction ``outliers``
    of samples are uniform random directions.
    """
    g = torch.Generator().manual_seed(seed)
    centres = F.normalize(torch.randn(num_clusters, dim, generator=g), dim=1)
    weights = torch.exp(0.5 * torch.randn(num_clusters, generator=g))
    labels = torch.multinomial(weights, num, replacement=True, generator=g)
    scale = noise / dim**0.5 * (0.8 + 0.4 * torch.rand(num, 1, generator=g))
    feats = centres[labels] + scale * torch.randn(num, dim, generator=g)
    scattered = torch.rand(num, generator=g) < outliers
    feats[scattered] = torch.randn(int(scattered.sum()), dim, generator=g)
    return F.normalize(feats, dim=1).numpy()


def _run_variant(variant: str, path: str, args: dict, conn) -> None:
    """Child process body: load features, time ``variant``, send back."""
    from mmvireid.models.utils import k_reciprocal_jaccard, sparse_dbscan
    from mmvireid.utils.knn import topk_similarity
    baseline = bench.load_baseline(
        'cluster_contrast_jaccard') if variant == 'baseline' else None
    feats = torch.from_numpy(np.load(path))
    start_rss = bench.rss_mib()
    tic = time.perf_counter()
    labels, split = None, None
    if variant == 'knn':
        topk_similarity(feats, feats, args['width'])
    elif variant == 'ours':
        dist = k_reciprocal_jaccard(
            feats, args['k1'], args['k2'], max_distance=args['max_distance'])
        split = time.perf_counter() - tic
        labels = sparse_dbscan(dist, args['eps'], args['min_samples'])
    else:
        dist = baseline.dense_jaccard(feats, args['k1'], args['k2'])
        split = time.perf_counter() - tic
        labels = baseline.dense_dbscan(dist, args['eps'], args['min_samples'])
    seconds = time.perf_counter() - tic
    peak = bench.peak_mib()
    conn.send(
        dict(
            seconds=seconds,
            split=split,
            labels=labels,
            peak_mib=peak - start_rss))
    conn.close()


def same_partition(a: np.ndarray, b: np.ndarray) -> bool:
    """Same outliers, and clusters equal up to a renumbering."""
    if a.shape != b.shape or not np.array_equal(a < 0, b < 0):
        return False
    a, b = a[a >= 0], b[b >= 0]
    pairs = np.unique(np.stack([a, b]), axis=1).shape[1]
    return pairs == len(np.unique(a)) == len(np.unique(b))


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--num-visible', type=int, default=22258)
    parser.add_argument('--num-infrared', type=int, default=11909)
    parser.add_argument('--clusters-visible', type=int, default=800)
    parser.add_argument('--clusters-infrared', type=int, default=430)
    parser.add_argument('--dim', type=int, default=2048)
    parser.add_argument(
        '--noise',
        type=float,
        default=3.0,
        help='norm of the per-sample noise (centres have norm 1)')
    parser.add_argument('--eps', type=float, default=0.6)
    parser.add_argument('--min-samples', type=int, default=4)
    parser.add_argument('--k1', type=int, default=30)
    parser.add_argument('--k2', type=int, default=6)
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--skip-baseline', action='store_true')
    parser.add_argument(
        '--all-pairs',
        action='store_true',
        help='ours stores every pair closer than 1, not only those within '
        'eps (what cluster_dbscan asks for)')
    parser.add_argument(
        '--quick',
        action='store_true',
        help='1500 + 800 samples, d=256, in this process (no memory '
        'figures); check equality only')
    args = parser.parse_args(argv)
    if args.quick:
        args.num_visible, args.num_infrared, args.dim = 1500, 800, 256
        args.clusters_visible, args.clusters_infrared = 54, 29
        args.noise = 2.0  # d=256: a lower noise for a similar regime
    params = dict(
        k1=args.k1,
        k2=args.k2,
        width=args.k1,
        eps=args.eps,
        min_samples=args.min_samples,
        max_distance=None if args.all_pairs else args.eps)
    print(f'torch threads: {torch.get_num_threads()}, cores: '
          f'{os.cpu_count()}, dim: {args.dim}, k1={args.k1}, k2={args.k2}, '
          f'eps={args.eps}, noise={args.noise}, ours stores '
          f'{"all pairs < 1" if args.all_pairs else "pairs <= eps"}')
    rows, ok = [], True
    with tempfile.TemporaryDirectory() as tmp:
        for offset, (name, num, clusters) in enumerate(
            (('visible', args.num_visible, args.clusters_visible),
             ('infrared', args.num_infrared, args.clusters_infrared))):
            path = osp.join(tmp, f'{name}.npy')
            np.save(
                path,
                sysu_like_features(
                    num,
                    clusters,
                    args.dim,
                    args.noise,
                    seed=args.seed + offset))
            row = dict(modality=name, num=num)
            variants = ['ours'] if args.quick else ['knn', 'ours']
            if not args.skip_baseline:
                variants.append('baseline')
            for variant in variants:
                row[variant] = bench.measure(_run_variant, variant, path,
                                             params, args.quick)
            if 'baseline' in row:
                row['same'] = same_partition(row['ours']['labels'],
                                             row['baseline']['labels'])
                ok &= row['same']
            rows.append(row)
    _print_table(rows)
    print('labels identical' if ok else 'LABELS DIFFER')
    return 0 if ok else 1


def _print_table(rows: list) -> None:
    """Markdown table of the measurements."""

    def cell(m: Optional[dict]) -> str:
        if m is None:
            return '-'
        text = f'{m["seconds"]:.2f} s'
        if m['split'] is not None:
            text += (f' ({m["split"]:.2f} + '
                     f'{m["seconds"] - m["split"]:.2f})')
        if not np.isnan(m['peak_mib']):
            text += f', {m["peak_mib"]:.0f} MiB'
        return text

    def ratio(a: Optional[dict], b: Optional[dict]) -> str:
        return f'{a["seconds"] / b["seconds"]:.2f}' if a and b else '-'

    print('\n| modality | N | clusters (outliers) | k-NN floor | '
          'ours: Jaccard + DBSCAN | ours / k-NN | baseline: Jaccard + '
          'DBSCAN | baseline / ours | same labels |')
    print('| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | :---: |')
    for r in rows:
        labels = r['ours']['labels']
        found = (f'{len(np.unique(labels[labels >= 0]))} '
                 f'({int((labels < 0).sum())})')
        print(f'| {r["modality"]} | {r["num"]} | {found} | '
              f'{cell(r.get("knn"))} | {cell(r["ours"])} | '
              f'{ratio(r["ours"], r.get("knn"))} | '
              f'{cell(r.get("baseline"))} | '
              f'{ratio(r.get("baseline"), r["ours"])} | '
              f'{r.get("same", "-")} |')
    print('\ntimes: wall seconds (Jaccard + DBSCAN); memory: peak RSS of '
          'the child beyond its RSS after loading the features')


if __name__ == '__main__':
    sys.exit(main())
