"""Time train-time CMFP and the OT association against the dense reference.

Generates SYSU-MM01-sized synthetic training features (seeded; identities
shared by both modalities, each sample its identity centre plus a
modality offset and isotropic noise on the unit sphere, a few scattered
outliers) with intra-modality cluster labels (the identity, or -1 for a
fraction of DBSCAN-like outliers), and runs in the same invocation:

- ``k-NN floor``: the bare exact k-NN search of CMFP's four blocks (v-v,
  v-r, r-v, r-r), chunked matmul + top-k
  (:func:`mmvireid.utils.knn.topk_similarity`);
- ``CMFP ours``: :func:`cross_modality_propagation` (sparse top-k blocks);
- ``CMFP baseline``: ``baselines/salcr_dense_cmfp.py``: the dense
  34 167 x 34 167 affinity built with full-row sorts, as SALCR does;
- ``OT ours``: :func:`dual_association` (both directions, on the
  propagated features of ours, centroids by :func:`cluster_centroids`)
  with the reference stopping rule, as :class:`AssociationHook` runs it;
  ``OT ours (POT)`` the same with POT's solver (informative: its stopping
  rule differs, so its labels may too);
- ``OT baseline``: ``baselines/salcr_dense_sinkhorn.py``: numpy Sinkhorn
  with the plan formed from dense ``diag(u)``, ``diag(v)`` matrices.

Each variant runs in its own fresh (spawned) child process that loads its
inputs from ``.npy`` files. Memory is the child's peak resident set size
(``getrusage(RUSAGE_SELF).ru_maxrss``) minus its resident size once the
inputs are loaded, i.e. what the variant allocates beyond them. The
propagated features of ours and the baseline must agree to 1e-5 and the
association labels must be identical; exit code 1 otherwise.

    # SYSU size (visible 22258, infrared 11909, d=2048); minutes, ~15 GB
    python tools/analysis_tools/benchmark_cmfp.py
    # CI check: small sizes, equality only
    python tools/analysis_tools/benchmark_cmfp.py --quick
"""
import argparse
import importlib.util
import os
import os.path as osp
import sys
import tempfile
import time
from typing import Optional, Sequence, Tuple

import numpy as np
import torch
import torch.nn.functional as F

HERE = osp.dirname(osp.abspath(__file__))
bench = importlib.util.module_from_spec(
    importlib.util.spec_from_file_location(
        'benchmark_utils', osp.join(HERE, 'benchmark_utils.py')))
bench.__spec__.loader.exec_module(bench)
load_baseline = bench.load_baseline
TOLERANCE = 1e-5
Modalities = Tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]


def sysu_like_modalities(num_visible: int,
                         num_infrared: int,
                         num_ids: int,
                         dim: int,
                         noise: float,
                         gap: float = 0.5,
                         outliers: float = 0.15,
                         seed: int = 0) -> Modalities:
    """Unit features of two modalities sharing identities, and labels.

    Identity frequencies are log-normal (sigma 0.5). A sample is its
    identity's centre (norm 1) plus its modality's offset (norm ``gap``)
    plus isotropic noise of norm about ``noise`` (scaled per sample by
    U(0.8, 1.2)); 3 % of the samples are uniform random directions. The
    label is the identity; a fraction ``outliers`` of the labels (the
    scattered samples among them) are -1.

    Returns:
        tuple: ``(feats_v, feats_r, labels_v, labels_r)``; float32 (N, dim)
        features and int64 (N,) labels.
    """
    g = torch.Generator().manual_seed(seed)
    centres = F.normalize(torch.randn(num_ids, dim, generator=g), dim=1)
    offsets = gap * F.normalize(torch.randn(2, dim, generator=g), dim=1)
    weights = torch.exp(0.5 * torch.randn(num_ids, generator=g))
    out = []
    for modality, num in enumerate((num_visible, num_infrared)):
        labels = torch.multinomial(weights, num, replacement=True, generator=g)
        jitter = 0.8 + 0.4 * torch.rand(num, 1, generator=g)
        scale = noise / dim**0.5 * jitter
        feats = centres[labels] + offsets[modality] + \
            scale * torch.randn(num, dim, generator=g)
        scattered = torch.rand(num, generator=g) < 0.03
        feats[scattered] = torch.randn(int(scattered.sum()), dim, generator=g)
        dropped = scattered | (torch.rand(num, generator=g) < outliers - 0.03)
        labels[dropped] = -1
        out.append((F.normalize(feats, dim=1).numpy(), labels.numpy()))
    return out[0][0], out[1][0], out[0][1], out[1][1]


def _run_variant(variant: str, tmp: str, args: dict, conn) -> None:
    """Child process body: load inputs, time ``variant``, send back."""
    from mmvireid.evaluation.functional import cross_modality_propagation
    from mmvireid.models.utils import cluster_centroids, dual_association
    from mmvireid.utils.knn import topk_similarity

    # the association runs on the features ours propagated, as the hook
    prefix = 'ours' if variant.startswith('ot') else 'input'
    f_v = torch.from_numpy(np.load(osp.join(tmp, f'{prefix}_v.npy')))
    f_r = torch.from_numpy(np.load(osp.join(tmp, f'{prefix}_r.npy')))
    l_v = np.load(osp.join(tmp, 'labels_v.npy'))
    l_r = np.load(osp.join(tmp, 'labels_r.npy'))
    start_rss = bench.rss_mib()
    k, result = args['k'], {}
    tic = time.perf_counter()
    if variant == 'knn':
        for a, b in ((f_v, f_v), (f_v, f_r), (f_r, f_v), (f_r, f_r)):
            topk_similarity(a, b, k)
    elif variant in ('cmfp-ours', 'cmfp-baseline'):
        if variant == 'cmfp-ours':
            new_v, new_r = cross_modality_propagation(f_v, f_r, k)
        else:
            new_v, new_r = bench.load_baseline('salcr_dense_cmfp').dense_cmfp(
                f_v, f_r, k)
        result['outputs'] = (new_v, new_r)
    elif variant in ('ot-ours', 'ot-pot'):
        t_v, t_r = torch.from_numpy(l_v), torch.from_numpy(l_r)
        cross = dual_association(
            f_v,
            t_v,
            f_r,
            t_r,
            cluster_centroids(f_v, t_v),
            cluster_centroids(f_r, t_r),
            lambda_ot=args['lambda_ot'],
            reference_stop=variant == 'ot-ours')
        result['labels'] = tuple(np.asarray(c) for c in cross)
    else:
        result['labels'] = bench.load_baseline(
            'salcr_dense_sinkhorn').dense_dual_association(
                f_v.numpy(), l_v, f_r.numpy(), l_r, args['lambda_ot'])
    seconds = time.perf_counter() - tic
    peak = bench.peak_mib()
    if 'outputs' in result:
        name = variant.split('-')[1]
        for suffix, feats in zip('vr', result.pop('outputs')):
            np.save(osp.join(tmp, f'{name}_{suffix}.npy'), feats.numpy())
    conn.send(dict(seconds=seconds, peak_mib=peak - start_rss, **result))
    conn.close()


def max_difference(tmp: str) -> float:
    """Largest absolute difference of ours' and the baseline's features."""
    return max(
        float(
            np.abs(
                np.load(osp.join(tmp, f'ours_{s}.npy')) -
                np.load(osp.join(tmp, f'baseline_{s}.npy'))).max())
        for s in 'vr')


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--num-visible', type=int, default=22258)
    parser.add_argument('--num-infrared', type=int, default=11909)
    parser.add_argument('--num-ids', type=int, default=395)
    parser.add_argument('--dim', type=int, default=2048)
    parser.add_argument(
        '--noise',
        type=float,
        default=3.0,
        help='norm of the per-sample noise (centres have norm 1)')
    parser.add_argument(
        '--outliers',
        type=float,
        default=0.15,
        help='fraction of samples labelled -1 (left out of the OT step)')
    parser.add_argument('--k', type=int, default=30, help='k_tr of CMFP')
    parser.add_argument('--lambda-ot', type=float, default=5.0)
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--skip-baseline', action='store_true')
    parser.add_argument(
        '--quick',
        action='store_true',
        help='1500 + 800 samples, 50 ids, d=256, in this process (no '
        'memory figures); check equality only')
    args = parser.parse_args(argv)
    if args.quick:
        args.num_visible, args.num_infrared, args.dim = 1500, 800, 256
        args.num_ids, args.noise = 50, 2.0
    params = dict(k=args.k, lambda_ot=args.lambda_ot)
    print(f'torch threads: {torch.get_num_threads()}, cores: '
          f'{os.cpu_count()}, visible: {args.num_visible}, infrared: '
          f'{args.num_infrared}, ids: {args.num_ids}, dim: {args.dim}, '
          f'k={args.k}, lambda_ot={args.lambda_ot}, noise={args.noise}, '
          f'outliers={args.outliers}')
    res = {}
    ok = True
    with tempfile.TemporaryDirectory() as tmp:
        feats_v, feats_r, labels_v, labels_r = sysu_like_modalities(
            args.num_visible,
            args.num_infrared,
            args.num_ids,
            args.dim,
            args.noise,
            outliers=args.outliers,
            seed=args.seed)
        for name, array in (('input_v', feats_v), ('input_r', feats_r),
                            ('labels_v', labels_v), ('labels_r', labels_r)):
            np.save(osp.join(tmp, f'{name}.npy'), array)
        res['kept'] = f'{(labels_v >= 0).sum()} + {(labels_r >= 0).sum()}'
        variants = ['cmfp-ours', 'ot-ours', 'ot-pot']
        if not args.quick:
            variants.insert(0, 'knn')
        if not args.skip_baseline:
            variants += ['cmfp-baseline', 'ot-baseline']
        for variant in variants:
            res[variant] = bench.measure(_run_variant, variant, tmp, params,
                                         args.quick)
        if 'cmfp-baseline' in res:
            res['max_diff'] = max_difference(tmp)
            ok &= res['max_diff'] <= TOLERANCE
    if 'ot-baseline' in res:
        res['same_labels'] = all(
            np.array_equal(a, b) for a, b in zip(res['ot-ours']['labels'],
                                                 res['ot-baseline']['labels']))
        ok &= res['same_labels']
    _print_table(args, res)
    print('results agree' if ok else 'RESULTS DIFFER')
    return 0 if ok else 1


def _agreement(a: tuple, b: tuple) -> float:
    """Fraction of associated (non -1) instances with the same label."""
    a, b = np.concatenate(a), np.concatenate(b)
    kept = a >= 0
    return float((a[kept] == b[kept]).mean()) if kept.any() else 1.0


def _print_table(args, res: dict) -> None:
    """Markdown table of the measurements."""

    def cell(key: str) -> str:
        if key not in res:
            return '-'
        m = res[key]
        text = f'{m["seconds"]:.2f} s'
        if not np.isnan(m['peak_mib']):
            text += f', {m["peak_mib"]:.0f} MiB'
        return text

    def ratio(a: str, b: str) -> str:
        if a not in res or b not in res:
            return '-'
        return f'{res[a]["seconds"] / res[b]["seconds"]:.2f}'

    size = f'{args.num_visible} + {args.num_infrared}'
    cmfp_agree = (f'max diff {res["max_diff"]:.1e}'
                  if 'max_diff' in res else '-')
    ot_agree = f'identical: {res.get("same_labels", "-")}'
    pot_agree = '-'
    if 'ot-baseline' in res:
        same = _agreement(res['ot-pot']['labels'],
                          res['ot-baseline']['labels'])
        pot_agree = f'{100 * same:.2f} % same labels'
    print('\n| step | N | k-NN floor (4 blocks) | ours | ours / k-NN | '
          'baseline | baseline / ours | agreement |')
    print('| --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |')
    print(f'| train-time CMFP, k={args.k} | {size} | {cell("knn")} | '
          f'{cell("cmfp-ours")} | {ratio("cmfp-ours", "knn")} | '
          f'{cell("cmfp-baseline")} | '
          f'{ratio("cmfp-baseline", "cmfp-ours")} | {cmfp_agree} |')
    print(f'| OT association, both ways (reference stop) | {res["kept"]} '
          f'| - | {cell("ot-ours")} | - | '
          f'{cell("ot-baseline")} | {ratio("ot-baseline", "ot-ours")} | '
          f'{ot_agree} |')
    print(f'| OT association, both ways (POT) | {res["kept"]} | - | '
          f'{cell("ot-pot")} | - | {cell("ot-baseline")} | '
          f'{ratio("ot-baseline", "ot-pot")} | {pot_agree} |')
    print('\ntimes: wall seconds; memory: peak RSS of the child beyond its '
          'RSS after loading its inputs')


if __name__ == '__main__':
    sys.exit(main())
