import numpy as np
import pytest
import torch
from tool_scripts import load_tool, run_quick

from mmvireid.evaluation import VIReIDMetric
from mmvireid.evaluation.functional import eval_sysu

bench = load_tool('analysis_tools/benchmark_eval.py')


def test_quick_run_gives_identical_metrics():
    stdout = run_quick('analysis_tools/benchmark_eval.py')
    assert 'metrics identical' in stdout
    rows = [
        line for line in stdout.splitlines()
        if line.startswith('| eval') or line.startswith('| test-time')
    ]
    assert len(rows) == 3
    assert all('| True (' in row for row in rows[:2])


@pytest.mark.parametrize('seed', [0, 1, 2])
def test_looped_baseline_matches_eval_sysu(seed):
    looped = bench.load_baseline('agw_eval_sysu').looped_eval_sysu
    rng = np.random.default_rng(seed)
    num_q, num_g = 40, 60
    # rounded distances: many exact ties, ranked by gallery index in both
    distmat = np.round(rng.random((num_q, num_g)), 1)
    q_pids, g_pids = rng.integers(0, 8, num_q), rng.integers(0, 10, num_g)
    q_cams, g_cams = rng.choice([3, 6], num_q), rng.choice([1, 2, 4, 5], num_g)
    ours = eval_sysu(distmat, q_pids, g_pids, q_cams, g_cams)
    ref = looped(distmat, q_pids, g_pids, q_cams, g_cams)
    np.testing.assert_array_equal(ours[0], ref[0])
    np.testing.assert_allclose(ours[1:], ref[1:], rtol=0, atol=1e-12)


def test_ours_is_what_vireid_metric_computes():
    data = bench.sysu_like_test_set(8, 50, 20, 2, 16, 1.0, pool_per_pair=3)
    assert data['trials'].shape == (2, 20)
    num_q, num_pool = len(data['q_pid']), len(data['pool_pid'])
    feats = np.concatenate([data['q_feat'], data['pool_feat']])
    pids = np.concatenate([data['q_pid'], data['pool_pid']])
    cams = np.concatenate([data['q_cam'], data['pool_cam']])
    meta = dict(
        query_indices=list(range(num_q)),
        gallery_trials=[list(num_q + t) for t in data['trials']])
    metric = VIReIDMetric(cmfp_k=4, prefix='toy')
    metric.dataset_meta = meta
    metric.process(None, [
        dict(
            pred_feature=torch.from_numpy(feats[i]),
            pid=pids[i],
            camid=cams[i],
            sample_idx=i) for i in range(num_q + num_pool)
    ])
    out = metric.evaluate(num_q + num_pool)
    for key, cmfp_k in (('toy/', None), ('toy/cmfp-', 4)):
        scores, _ = bench.evaluate_ours(data, 2, cmfp_k)
        mean = 100 * scores.mean(0)
        np.testing.assert_allclose([out[key + 'R1'], out[key + 'mAP']],
                                   [mean[0], mean[-2]],
                                   atol=1e-5)
    base, _ = bench.evaluate_baseline(data, 2, 4)
    assert bench.same_scores(bench.evaluate_ours(data, 2, 4)[0], base)
