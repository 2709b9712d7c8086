import numpy as np
import pytest
import torch
from eval_sets import make_eval_set
from mmengine.fileio import dump, load

from mmvireid.evaluation import CMFPTrials, VIReIDMetric, verification_roc
from mmvireid.registry import METRICS
from mmvireid.utils import register_all_modules

register_all_modules()
FIGURES = ['R1', 'R5', 'R10', 'R20', 'mAP', 'mINP']


def run_metric(metric, meta, samples):
    metric.dataset_meta = meta
    for start in range(0, len(samples), 7):
        metric.process(None, samples[start:start + 7])
    return metric.evaluate(len(samples))


def expected_auc(meta, feats, pids, cams, regdb=False):
    """Mean over trials of the functional AUC on the metric's distances."""
    q = meta['query_indices']
    pool = sorted({i for t in meta['gallery_trials'] for i in t})
    rows = [[pool.index(i) for i in t] for t in meta['gallery_trials']]
    feats = torch.tensor(feats, dtype=torch.float32)
    distances = CMFPTrials(feats[q], feats[pool], rows)
    aucs = []
    for trial, gallery in enumerate(meta['gallery_trials']):
        cameras = () if regdb else (cams[q], cams[gallery])
        aucs.append(
            verification_roc(
                distances.plain(trial).numpy(), pids[q], pids[gallery],
                *cameras)[0])
    return 100 * np.mean(aucs)


def test_off_by_default_keys_unchanged():
    meta, samples, *_ = make_eval_set()
    default = run_metric(VIReIDMetric(), meta, samples)
    off = run_metric(VIReIDMetric(roc=False, save_curves=False), meta, samples)
    assert list(default) == [f'toy-all/{k}' for k in FIGURES]
    assert off == default


def test_roc_adds_auc_of_every_variant_and_keeps_the_rest():
    meta, samples, feats, pids, cams = make_eval_set(seed=3)
    plain = run_metric(VIReIDMetric(cmfp_k=5), meta, samples)
    metric = METRICS.build(dict(type='VIReIDMetric', cmfp_k=5, roc=True))
    out = run_metric(metric, meta, samples)
    assert set(out) - set(plain) == {'toy-all/AUC', 'toy-all/cmfp-AUC'}
    assert {k: out[k] for k in plain} == plain
    assert out['toy-all/AUC'] == pytest.approx(
        expected_auc(meta, feats, pids, cams), abs=1e-9)
    assert 50 < out['toy-all/AUC'] < 100
    assert out['toy-all/cmfp-AUC'] != out['toy-all/AUC']


def test_regdb_roc_uses_no_camera_rule():
    meta, samples, feats, pids, cams = make_eval_set(seed=4)
    meta = dict(meta, protocol='regdb', eval_prefix='toy-v2t')
    # every query in camera 3 and half the pool in camera 2: the SYSU rule
    # would drop pairs, RegDB's protocol keeps them all
    cams = np.where(
        np.arange(len(cams)) < len(meta['query_indices']), 3,
        np.where(np.arange(len(cams)) % 2, 2, 1))
    for sample, cam in zip(samples, cams):
        sample['camid'] = int(cam)
    out = run_metric(VIReIDMetric(roc=True), meta, samples)
    want = expected_auc(meta, feats, pids, cams, regdb=True)
    assert out['toy-v2t/AUC'] == pytest.approx(want, abs=1e-9)
    assert want != pytest.approx(expected_auc(meta, feats, pids, cams))


def test_saved_curves_agree_with_the_figures(tmp_path):
    meta, samples, *_ = make_eval_set(seed=5)
    out = run_metric(
        VIReIDMetric(roc=True, save_curves=True, max_rank=20), meta, samples)
    cmc, roc = out['toy-all/CMC'], out['toy-all/ROC']
    assert cmc.shape == (20, )
    for rank in (1, 5, 10, 20):
        assert cmc[rank - 1] == pytest.approx(out[f'toy-all/R{rank}'])
    assert np.all(np.diff(cmc) >= 0)
    np.testing.assert_allclose(roc['fpr'], np.linspace(0, 100, 1001))
    assert np.all(np.diff(roc['tpr']) >= 0) and roc['tpr'][-1] == 100
    # the area under the averaged curve is close to the mean AUC
    area = np.sum(np.diff(roc['fpr']) * (roc['tpr'][1:] + roc['tpr'][:-1]))
    assert area / 200 == pytest.approx(out['toy-all/AUC'], abs=0.5)
    # what tools/test.py --out writes (JSON) round-trips
    dump(out, str(tmp_path / 'result.json'))
    loaded = load(str(tmp_path / 'result.json'))
    np.testing.assert_allclose(loaded['toy-all/ROC']['tpr'], roc['tpr'])
    assert loaded['toy-all/R1'] == out['toy-all/R1']


def test_curves_without_roc_are_cmc_only():
    meta, samples, *_ = make_eval_set(seed=6, trials=2)
    out = run_metric(VIReIDMetric(save_curves=True), meta, samples)
    assert set(out) == {f'toy-all/{k}' for k in FIGURES + ['CMC']}
