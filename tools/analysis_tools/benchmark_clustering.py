"""Time the per-epoch clustering step against the reference formulation.

Generates SYSU-sized synthetic features with identity structure, then for
each modality times in the same run (each variant in its own freshly
spawned process, so its peak memory can be read):

- ``knn``: the bare exact k-NN floor (chunked torch matmul + top-k, k=k1+1);
- ``ours``: sparse k-reciprocal Jaccard + DBSCAN (mmvireid);
- ``baseline``: the dense, looped reference formulation + DBSCAN
  (``baselines/cluster_contrast_jaccard.py``).

It checks that ours and the baseline give the same labels (up to
permutation) and prints a markdown table. Peak memory is the child's
maximum resident set size minus its resident size once the features are
loaded, i.e. what the variant allocates beyond the features (and the
imports).

    python tools/analysis_tools/benchmark_clustering.py            # SYSU size
    python tools/analysis_tools/benchmark_clustering.py --quick    # CI check
"""
import argparse
import importlib.util
import multiprocessing as mp
import os
import os.path as osp
import resource
import sys
import tempfile
import time
from typing import Optional, Sequence

import torch
import torch.nn.functional as F
from sklearn.cluster import DBSCAN
from sklearn.metrics import adjusted_rand_score

from mmvireid.models.utils import k_reciprocal_jaccard
from mmvireid.utils.knn import topk_similarity

HERE = osp.dirname(osp.abspath(__file__))


def load_baseline():
    spec = importlib.util.spec_from_file_location(
        'cluster_contrast_jaccard',
        osp.join(HERE, 'baselines', 'cluster_contrast_jaccard.py'))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def synthetic_features(num: int, clusters: int, dim: int, noise: float,
                       seed: int) -> torch.Tensor:
    """Normalised features around ``clusters`` random unit centres."""
    g = torch.Generator().manual_seed(seed)
    centres = F.normalize(torch.randn(clusters, dim, generator=g), dim=1)
    labels = torch.randint(0, clusters, (num, ), generator=g)
    noisy = centres[labels] + noise * torch.randn(num, dim, generator=g)
    return F.normalize(noisy, dim=1)


def _rss_mib() -> float:
    with open('/proc/self/statm') as f:
        return int(f.read().split()[1]) * os.sysconf('SC_PAGE_SIZE') / 2**20


def run_variant(variant: str, feats_path: str, k1: int, k2: int,
                eps: float):
    """Run one variant on saved features; returns the labels (or None)."""
    feats = torch.load(feats_path)
    if variant == 'knn':
        topk_similarity(feats, feats, k1 + 1)
        return None
    if variant == 'ours':
        return DBSCAN(
            eps=eps, min_samples=4, metric='precomputed',
            n_jobs=-1).fit_predict(k_reciprocal_jaccard(feats, k1, k2))
    baseline = load_baseline()
    return baseline.dense_dbscan(baseline.dense_jaccard(feats, k1, k2), eps)


def _child(conn, *args) -> None:
    feats_loaded = _rss_mib()
    torch.load(args[1])  # count the features' own memory as the start
    start = max(_rss_mib(), feats_loaded)
    tic = time.perf_counter()
    out = run_variant(*args)
    seconds = time.perf_counter() - tic
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    conn.send((seconds, peak - start, out))
    conn.close()


def measure(*args) -> tuple:
    """``(seconds, peak MiB beyond the features, labels)`` of one variant,
    run in a fresh (spawned) process."""
    ctx = mp.get_context('spawn')
    parent, child = ctx.Pipe(duplex=False)
    proc = ctx.Process(target=_child, args=(child, ) + args)
    proc.start()
    result = parent.recv()
    proc.join()
    return result


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--num-visible', type=int, default=22258)
    parser.add_argument('--num-infrared', type=int, default=11909)
    parser.add_argument('--clusters-visible', type=int, default=800)
    parser.add_argument('--clusters-infrared', type=int, default=430)
    parser.add_argument('--dim', type=int, default=2048)
    parser.add_argument('--noise', type=float, default=0.035)
    parser.add_argument('--eps', type=float, default=0.6)
    parser.add_argument('--k1', type=int, default=30)
    parser.add_argument('--k2', type=int, default=6)
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--skip-baseline', action='store_true')
    parser.add_argument(
        '--quick', action='store_true', help='small sizes, equality only')
    args = parser.parse_args(argv)
    if args.quick:
        args.num_visible, args.num_infrared = 1500, 800
        args.clusters_visible, args.clusters_infrared = 60, 40
        args.dim, args.noise = 128, 0.12
    tmp = tempfile.mkdtemp(prefix='bench_clustering_')
    print(f'torch threads: {torch.get_num_threads()}, cores: '
          f'{os.cpu_count()}')
    rows, ok = [], True
    for name, num, clusters in (('visible', args.num_visible,
                                 args.clusters_visible),
                                ('infrared', args.num_infrared,
                                 args.clusters_infrared)):
        feats = synthetic_features(num, clusters, args.dim, args.noise,
                                   args.seed)
        path = osp.join(tmp, f'{name}.pth')
        torch.save(feats, path)
        common = (path, args.k1, args.k2, args.eps)
        knn = measure('knn', *common)
        ours = measure('ours', *common)
        line = dict(modality=name, n=num, knn=knn, ours=ours)
        if not args.skip_baseline:
            base = measure('baseline', *common)
            same = adjusted_rand_score(base[2], ours[2]) == 1.0 and bool(
                ((base[2] == -1) == (ours[2] == -1)).all())
            ok &= same
            line.update(baseline=base, same=same)
        rows.append(line)
    print('| modality | N | clusters (outliers) | k-NN floor | ours | '
          'ours / k-NN | baseline | baseline / ours | same labels |')
    print('| --- | --- | --- | --- | --- | --- | --- | --- | --- |')
    for r in rows:
        labels = r['ours'][2]
        found = f'{len(set(labels[labels >= 0]))} ({(labels < 0).sum()})'

        def cell(m):
            return f'{m[0]:.1f} s, {m[1]:.0f} MiB'

        base = r.get('baseline')
        print(f'| {r["modality"]} | {r["n"]} | {found} | {cell(r["knn"])} | '
              f'{cell(r["ours"])} | {r["ours"][0] / r["knn"][0]:.2f} | '
              f'{cell(base) if base else "-"} | '
              f'{base[0] / r["ours"][0] if base else 0:.1f} | '
              f'{r.get("same", "-")} |')
    print('labels identical' if ok else 'LABELS DIFFER')
    return 0 if ok else 1


if __name__ == '__main__':
    sys.exit(main())
