"""Time the SYSU-MM01 evaluation (with and without test-time CMFP).

Generates a SYSU-MM01-sized synthetic test set (seeded; 96 identities,
3 803 infrared queries of cameras 3 / 6 and, per trial, a single-shot
visible gallery of 301 images, one per (identity, camera) pair drawn from
a pool; features are identity centres plus a modality offset and isotropic
noise on the unit sphere) and runs in the same invocation, over all trials:

- ``eval ours``: distances as :class:`VIReIDMetric` computes them
  (:class:`mmvireid.evaluation.functional.CMFPTrials`: the query x
  gallery-pool similarities once, per trial the trial's columns) and the
  vectorised :func:`mmvireid.evaluation.functional.eval_sysu` per trial;
- ``eval baseline``: ``baselines/agw_eval_sysu.py``, the per-query Python
  loop of the AGW / CAJ ``eval_sysu`` (on distances ``-q @ g.T`` of the
  normalised features, per trial: the matrix ours ranks, bit for bit on
  MKL, so that the two metrics see the same matrix);
- ``CMFP ours``: test-time CMFP as :class:`VIReIDMetric` runs it
  (:class:`CMFPTrials`: the Gram matrices and the query block once, per
  trial only sparse work of order Nq x 301 x k) and ``eval_sysu``; once
  over all trials and once over the first trial only;
- ``CMFP baseline``: per trial everything recomputed densely
  (``baselines/salcr_dense_cmfp.py``), then the looped evaluation.

Each variant runs in its own fresh (spawned) child process that loads the
features from a ``.npz`` file. Memory is the child's peak resident set
size (``getrusage(RUSAGE_SELF).ru_maxrss``) minus its resident size once
the features are loaded. The per-trial CMC curves, mAP and mINP of ours
and the baseline must be identical; exit code 1 otherwise.

    # SYSU size (3803 queries, 301 gallery, 10 trials, d=2048); ~2 minutes
    python tools/analysis_tools/benchmark_eval.py
    # CI check: small sizes, equality only
    python tools/analysis_tools/benchmark_eval.py --quick
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
VISIBLE_CAMS = (1, 2, 4, 5)
MAP_TOLERANCE = 1e-12


def sysu_like_test_set(num_ids: int = 96,
                       num_query: int = 3803,
                       num_gallery: int = 301,
                       num_trials: int = 10,
                       dim: int = 2048,
                       noise: float = 4.0,
                       gap: float = 0.5,
                       pool_per_pair: int = 20,
                       seed: int = 0) -> dict:
    """Synthetic SYSU-MM01 test split: queries, gallery pool and trials.

    Queries are infrared (camera 3 or 6), identities in sorted order.
    ``num_gallery`` of the ``4 * num_ids`` (identity, visible camera)
    pairs exist, each with ``pool_per_pair`` images; trial ``t`` picks one
    image per pair. A feature is its identity's centre (norm 1) plus its
    modality's offset (norm ``gap``) plus isotropic noise of norm about
    ``noise`` (scaled per sample by U(0.8, 1.2)), L2-normalised.

    Returns:
        dict: ``q_feat`` (Nq, dim) float32, ``q_pid``, ``q_cam``,
        ``pool_feat``, ``pool_pid``, ``pool_cam`` and ``trials``
        (num_trials, num_gallery) indices into the pool.
    """
    if num_gallery > 4 * num_ids:
        raise ValueError(f'at most {4 * num_ids} (id, camera) pairs')
    g = torch.Generator().manual_seed(seed)
    centres = F.normalize(torch.randn(num_ids, dim, generator=g), dim=1)
    offsets = gap * F.normalize(torch.randn(2, dim, generator=g), dim=1)

    def sample(pids: torch.Tensor, modality: int) -> np.ndarray:
        scale = noise / dim**0.5 * (
            0.8 + 0.4 * torch.rand(len(pids), 1, generator=g))
        feats = centres[pids] + offsets[modality] + scale * torch.randn(
            len(pids), dim, generator=g)
        return F.normalize(feats, dim=1).numpy()

    q_pid = torch.randint(num_ids, (num_query, ), generator=g).sort()[0]
    q_cam = np.where(torch.rand(num_query, generator=g).numpy() < 0.5, 3, 6)
    pairs = torch.randperm(4 * num_ids, generator=g)[:num_gallery].sort()[0]
    pool_pid = (pairs // 4).repeat_interleave(pool_per_pair)
    cams = np.array(VISIBLE_CAMS)[(pairs % 4).numpy()]
    pool_cam = cams.repeat(pool_per_pair)
    picks = torch.randint(
        pool_per_pair, (num_trials, num_gallery), generator=g)
    trials = (torch.arange(num_gallery) * pool_per_pair + picks).numpy()
    return dict(
        q_feat=sample(q_pid, 1),
        q_pid=q_pid.numpy(),
        q_cam=q_cam,
        pool_feat=sample(pool_pid, 0),
        pool_pid=pool_pid.numpy(),
        pool_cam=pool_cam,
        trials=trials)


def evaluate_ours(data: dict,
                  num_trials: int,
                  cmfp_k: Optional[int] = None) -> Tuple[np.ndarray, float]:
    """Per-trial ``[CMC..., mAP, mINP]`` the way :class:`VIReIDMetric`
    computes them (its ``_distance`` and ``eval_sysu``), and the seconds
    spent in the metric alone."""
    from mmvireid.evaluation.functional import CMFPTrials, eval_sysu
    trials = data['trials'][:num_trials]
    # the metric stacks the features of the trials' galleries only
    pool, trial_rows = np.unique(trials, return_inverse=True)
    distances = CMFPTrials(
        torch.from_numpy(data['q_feat']),
        torch.from_numpy(data['pool_feat'][pool]),
        trial_rows.reshape(trials.shape),
        k=cmfp_k)
    rows, metric_seconds = [], 0.
    for t, trial in enumerate(trials):
        distmat = (distances.plain(t)
                   if cmfp_k is None else distances.cmfp(t)).numpy()
        tic = time.perf_counter()
        cmc, mAP, mINP = eval_sysu(distmat, data['q_pid'],
                                   data['pool_pid'][trial], data['q_cam'],
                                   data['pool_cam'][trial])
        metric_seconds += time.perf_counter() - tic
        rows.append(np.concatenate([cmc, [mAP, mINP]]))
    return np.stack(rows), metric_seconds


def evaluate_baseline(
        data: dict,
        num_trials: int,
        cmfp_k: Optional[int] = None) -> Tuple[np.ndarray, float]:
    """Per-trial ``[CMC..., mAP, mINP]``, reference style: the looped
    metric and (with ``cmfp_k``) dense CMFP redone per trial; and the
    seconds spent in the metric alone."""
    looped_eval_sysu = bench.load_baseline('agw_eval_sysu').looped_eval_sysu
    dense_cmfp = bench.load_baseline('salcr_dense_cmfp').dense_cmfp
    rows, metric_seconds = [], 0.
    for trial in data['trials'][:num_trials]:
        q = torch.from_numpy(data['q_feat'])
        g = torch.from_numpy(data['pool_feat'][trial])
        if cmfp_k is not None:
            q, g = dense_cmfp(q, g, cmfp_k)
        else:  # normalised (again) as ours does; dense_cmfp normalises
            q, g = F.normalize(q, dim=1), F.normalize(g, dim=1)
        # the distance expression of ours (the reference's np.matmul rounds
        # differently and can swap near-tied ranks, which is no metric bug)
        distmat = (-q @ g.t()).numpy()
        tic = time.perf_counter()
        cmc, mAP, mINP = looped_eval_sysu(distmat, data['q_pid'],
                                          data['pool_pid'][trial],
                                          data['q_cam'],
                                          data['pool_cam'][trial])
        metric_seconds += time.perf_counter() - tic
        rows.append(np.concatenate([cmc, [mAP, mINP]]))
    return np.stack(rows), metric_seconds


def same_scores(a: np.ndarray, b: np.ndarray) -> bool:
    """Per-trial CMC curves bit-equal; mAP and mINP (the last two
    columns) equal up to float64 summation order (1e-12)."""
    return a.shape == b.shape and np.array_equal(
        a[:, :-2], b[:, :-2]) and np.allclose(
            a[:, -2:], b[:, -2:], rtol=0, atol=MAP_TOLERANCE)


def _run_variant(variant: str, path: str, args: dict, conn) -> None:
    """Child process body: load the test set, time ``variant``, send back."""
    import mmvireid.evaluation.functional  # noqa: F401 (not timed)
    bench.load_baseline('agw_eval_sysu')
    with np.load(path) as npz:
        data = dict(npz)
    start_rss = bench.rss_mib()
    name, cmfp, trials = variant.split(':')
    run = evaluate_ours if name == 'ours' else evaluate_baseline
    tic = time.perf_counter()
    scores, metric = run(data, int(trials),
                         args['k'] if cmfp == 'cmfp' else None)
    seconds = time.perf_counter() - tic
    peak = bench.peak_mib()
    conn.send(
        dict(
            seconds=seconds,
            metric=metric,
            peak_mib=peak - start_rss,
            scores=scores))
    conn.close()


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--num-ids', type=int, default=96)
    parser.add_argument('--num-query', type=int, default=3803)
    parser.add_argument('--num-gallery', type=int, default=301)
    parser.add_argument('--trials', type=int, default=10)
    parser.add_argument('--dim', type=int, default=2048)
    parser.add_argument(
        '--noise',
        type=float,
        default=4.0,
        help='norm of the per-sample noise (centres have norm 1)')
    parser.add_argument('--k', type=int, default=30, help='k_te of CMFP')
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--skip-baseline', action='store_true')
    parser.add_argument(
        '--quick',
        action='store_true',
        help='24 ids, 400 queries, 75 gallery, 3 trials, d=256, in this '
        'process (no memory figures); check equality only')
    args = parser.parse_args(argv)
    if args.quick:
        args.num_ids, args.num_query, args.num_gallery = 24, 400, 75
        args.trials, args.dim, args.noise = 3, 256, 3.0
    print(f'torch threads: {torch.get_num_threads()}, cores: '
          f'{os.cpu_count()}, queries: {args.num_query}, gallery: '
          f'{args.num_gallery}, trials: {args.trials}, ids: {args.num_ids}, '
          f'dim: {args.dim}, k_te={args.k}, noise={args.noise}')
    variants = [
        f'ours:plain:{args.trials}', f'ours:cmfp:{args.trials}', 'ours:cmfp:1'
    ]
    if not args.skip_baseline:
        variants += [
            f'baseline:plain:{args.trials}', f'baseline:cmfp:{args.trials}'
        ]
    with tempfile.TemporaryDirectory() as tmp:
        path = osp.join(tmp, 'test_set.npz')
        np.savez(
            path,
            **sysu_like_test_set(
                args.num_ids,
                args.num_query,
                args.num_gallery,
                args.trials,
                args.dim,
                args.noise,
                seed=args.seed))
        res = {
            v: bench.measure(_run_variant, v, path, dict(k=args.k), args.quick)
            for v in variants
        }
    ok = True
    for cmfp in ('plain', 'cmfp'):
        ours = res[f'ours:{cmfp}:{args.trials}']
        base = res.get(f'baseline:{cmfp}:{args.trials}')
        if base is not None:
            ours['same'] = same_scores(ours['scores'], base['scores'])
            ours['max_diff'] = float(
                np.abs(ours['scores'] - base['scores']).max())
            ok &= ours['same']
    _print_table(args, res)
    print('metrics identical' if ok else 'METRICS DIFFER')
    return 0 if ok else 1


def _print_table(args, res: dict) -> None:
    """Markdown table of the measurements."""

    def cell(m: Optional[dict]) -> str:
        if m is None:
            return '-'
        text = f'{m["seconds"]:.2f} s ({m["metric"]:.2f} s)'
        if not np.isnan(m['peak_mib']):
            text += f', {m["peak_mib"]:.0f} MiB'
        return text

    def ratio(a: Optional[dict], b: Optional[dict]) -> str:
        if not (a and b):
            return '-'
        return (f'{a["seconds"] / b["seconds"]:.1f} '
                f'({a["metric"] / b["metric"]:.1f})')

    n = args.trials
    print('\n| variant | trials | ours: total (metric) | baseline: total '
          '(metric) | baseline / ours: total (metric) | same metrics (max '
          'diff) | mean R1 / mAP / mINP (%) |')
    print('| --- | ---: | ---: | ---: | ---: | :---: | ---: |')
    for cmfp, label in (('plain', 'eval'),
                        ('cmfp', f'test-time CMFP (k={args.k}) + eval')):
        ours = res[f'ours:{cmfp}:{n}']
        base = res.get(f'baseline:{cmfp}:{n}')
        same = (f'{ours["same"]} ({ours["max_diff"]:.1e})'
                if 'same' in ours else '-')
        mean = 100 * ours['scores'].mean(0)
        print(f'| {label} | {n} | {cell(ours)} | {cell(base)} | '
              f'{ratio(base, ours)} | {same} | '
              f'{mean[0]:.2f} / {mean[-2]:.2f} / {mean[-1]:.2f} |')
    one = res['ours:cmfp:1']
    print(f'| test-time CMFP (k={args.k}) + eval | 1 | {cell(one)} | - | - '
          '| - | - |')
    many = res[f'ours:cmfp:{n}']
    print(f'\nours, {n} trials with CMFP / 1 trial with CMFP: '
          f'{many["seconds"] / one["seconds"]:.2f}')
    print('times: wall seconds over all trials (distances, CMFP and metric; '
          'in brackets the metric alone); memory: peak RSS of the child '
          'beyond its RSS after loading the test set')


if __name__ == '__main__':
    sys.exit(main())
