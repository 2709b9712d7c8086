"""Time MCF's per-epoch regional neighbour sets against their k-NN floor.

Generates SYSU-MM01-sized synthetic region features (seeded): identities
shared by both modalities, each with a centre per region, images = centre +
a modality offset + noise, SYSU's cameras (visible 1, 2, 4, 5; infrared 3,
6) and intra-camera labels (the true id, 10 % of images ``-1``). Then, in
the same invocation and on the same inputs:

- ``k-NN floor``: only the k-NN searches the method needs
  (:meth:`RegionalNeighbours.searches`: per region, one exact chunked
  torch search per ordered modality pair, :func:`mmvireid.utils.knn.
  topk_similarity`, at the widths the method asks for; the normalised
  region features are prepared before the clock starts);
- ``ours``: :class:`RegionalNeighbours` end to end (per-region
  normalisation, the same searches, reciprocity, camera rule, padding to
  dataset-index tables).

Each variant runs in its own fresh (spawned) child process that loads the
features from ``.npy`` files; memory is the child's peak resident set size
beyond its size once the features are loaded. The issue's target is
``ours / floor <= 2``.

    # SYSU size (22258 + 11909 images, 4 regions x 768); minutes
    python tools/analysis_tools/benchmark_neighbours.py --threads 2
    # CI check: tiny sizes, seconds
    python tools/analysis_tools/benchmark_neighbours.py --quick
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

#: SYSU-MM01's training cameras per modality
CAMERAS = dict(visible=(1, 2, 4, 5), infrared=(3, 6))


def synthetic_modalities(num_visible: int,
                         num_infrared: int,
                         num_ids: int,
                         regions: int,
                         dim: int,
                         noise: float = 1.5,
                         seed: int = 0) -> dict:
    """modality → (features ``(n, regions·dim)`` float32, camids, labels).

    Every image is its identity's region centres plus a per-modality offset
    (norm 0.5 per region) plus isotropic noise of norm about ``noise`` per
    region; identities are drawn uniformly for each image.
    """
    g = torch.Generator().manual_seed(seed)
    centres = F.normalize(torch.randn(num_ids, regions, dim, generator=g), -1)
    out = {}
    for name, num in (('visible', num_visible), ('infrared', num_infrared)):
        offset = 0.5 * F.normalize(torch.randn(regions, dim, generator=g), -1)
        pids = torch.randint(0, num_ids, (num, ), generator=g)
        feats = centres[pids] + offset + noise / dim**0.5 * torch.randn(
            num, regions, dim, generator=g)
        cams = torch.tensor(CAMERAS[name])[torch.randint(
            0, len(CAMERAS[name]), (num, ), generator=g)]
        labels = torch.where(torch.rand(num, generator=g) < 0.1, -1, pids)
        out[name] = (feats.flatten(1).numpy(), cams.numpy(), labels.numpy())
    return out


def _load(tmp: str) -> dict:
    return {
        name: [
            torch.from_numpy(np.load(osp.join(tmp, f'{name}_{part}.npy')))
            for part in ('feats', 'cams', 'labels')
        ]
        for name in CAMERAS
    }


def _run_variant(variant: str, tmp: str, args: dict, conn) -> None:
    """Child process body: load the inputs, time ``variant``, send back."""
    from mmvireid.models.task_modules import RegionalNeighbours
    torch.set_num_threads(args['threads'])
    data = _load(tmp)
    rn = RegionalNeighbours(
        num_regions=args['regions'],
        intra_k=args['intra_k'],
        inter_k=args['inter_k'])
    if variant == 'knn':  # normalised regions ready: searches only
        regions = {m: rn.regions(d[0], m) for m, d in data.items()}
        widths = rn.widths(tuple(data))
    start_rss = bench.rss_mib()
    stats = None
    tic = time.perf_counter()
    if variant == 'knn':
        for r in range(args['regions']):
            rn.searches(regions, r, widths)
    else:
        sets = rn({
            m: d[0]
            for m, d in data.items()
        }, {
            m: d[1]
            for m, d in data.items()
        }, {
            m: d[2]
            for m, d in data.items()
        })
    seconds = time.perf_counter() - tic
    peak = bench.peak_mib()
    if variant == 'ours':
        stats = {}
        for key, table in sets.neighbours.items():
            sizes = sets.sizes(key).float()
            stats[key] = (tuple(table.shape), float(sizes.mean()),
                          float((sizes == 0).float().mean()))
    conn.send(dict(seconds=seconds, peak_mib=peak - start_rss, stats=stats))
    conn.close()


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--num-visible', type=int, default=22258)
    parser.add_argument('--num-infrared', type=int, default=11909)
    parser.add_argument('--num-ids', type=int, default=395)
    parser.add_argument('--regions', type=int, default=4)
    parser.add_argument(
        '--dim', type=int, default=768, help='dimension of one region')
    parser.add_argument('--intra-k', type=int, nargs=2, default=(30, 6))
    parser.add_argument('--inter-k', type=int, nargs=2, default=(40, 32))
    parser.add_argument('--threads', type=int, default=2)
    parser.add_argument(
        '--repeat',
        type=int,
        default=1,
        help='alternate the variants this many times; report the fastest')
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument(
        '--quick',
        action='store_true',
        help='1200 + 700 images, 4 x 32, in this process (no memory '
        'figures)')
    args = parser.parse_args(argv)
    if args.quick:
        args.num_visible, args.num_infrared, args.num_ids = 1200, 700, 40
        args.dim = 32
    params = dict(
        regions=args.regions,
        intra_k=tuple(args.intra_k),
        inter_k=tuple(args.inter_k),
        threads=args.threads)
    print(f'torch threads: {args.threads}, cores: {os.cpu_count()}, '
          f'visible {args.num_visible}, infrared {args.num_infrared}, '
          f'{args.regions} regions x {args.dim}, intra (k1, k2)='
          f'{tuple(args.intra_k)}, inter (k1, k2)={tuple(args.inter_k)}')
    runs = dict(knn=[], ours=[])
    with tempfile.TemporaryDirectory() as tmp:
        data = synthetic_modalities(
            args.num_visible,
            args.num_infrared,
            args.num_ids,
            args.regions,
            args.dim,
            seed=args.seed)
        for name, parts in data.items():
            for part, value in zip(('feats', 'cams', 'labels'), parts):
                np.save(osp.join(tmp, f'{name}_{part}.npy'), value)
        for _ in range(args.repeat):
            for variant in runs:
                runs[variant].append(
                    bench.measure(_run_variant, variant, tmp, params,
                                  args.quick))
    best = {v: min(r, key=lambda m: m['seconds']) for v, r in runs.items()}
    ratio = best['ours']['seconds'] / best['knn']['seconds']
    _print_table(best, runs, ratio)
    return 0


def _print_table(best: dict, runs: dict, ratio: float) -> None:
    """Markdown tables of the measurements and of the sets found."""

    def cell(m: dict) -> str:
        text = f'{m["seconds"]:.2f} s'
        if not np.isnan(m['peak_mib']):
            text += f', {m["peak_mib"]:.0f} MiB'
        return text

    print('\n| variant | time (fastest), extra peak memory | all runs |')
    print('| --- | ---: | ---: |')
    for variant, label in (('knn', 'k-NN floor (searches only)'),
                           ('ours', 'ours: RegionalNeighbours')):
        every = ', '.join(f'{m["seconds"]:.2f}' for m in runs[variant])
        print(f'| {label} | {cell(best[variant])} | {every} s |')
    print(f'\nours / k-NN floor: {ratio:.2f} (target <= 2)')
    print('\n| direction | table (R, n_src, K) | mean set size | empty sets |')
    print('| --- | --- | ---: | ---: |')
    for key, (shape, mean, empty) in best['ours']['stats'].items():
        print(f'| {key} | {shape} | {mean:.2f} | {100 * empty:.1f} % |')


if __name__ == '__main__':
    sys.exit(main())
