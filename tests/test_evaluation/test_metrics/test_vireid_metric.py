import glob
import os
import os.path as osp
import re
import socket
import subprocess
import sys

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from eval_sets import make_eval_set
from mmengine.config import Config
from mmengine.evaluator import Evaluator

from mmvireid.evaluation import (CMFPTrials, VIReIDMetric,
                                 cross_modality_propagation, eval_regdb,
                                 eval_sysu)
from mmvireid.registry import METRICS
from mmvireid.utils import register_all_modules

register_all_modules()

ROOT = osp.dirname(
    osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))
FIGURES = ['R1', 'R5', 'R10', 'R20', 'mAP', 'mINP']


def expected_scores(meta, feats, pids, cams, propagate_k=None, regdb=False):
    feats = F.normalize(torch.tensor(feats, dtype=torch.float32), dim=1)
    q = meta['query_indices']
    total = np.zeros(6)
    for trial in meta['gallery_trials']:
        qf, gf = feats[q], feats[trial]
        if propagate_k:
            qf, gf = cross_modality_propagation(qf, gf, k=propagate_k)
        dist_ = (-qf @ gf.t()).numpy()
        if regdb:
            cmc, mAP, mINP = eval_regdb(dist_, pids[q], pids[trial])
        else:
            cmc, mAP, mINP = eval_sysu(dist_, pids[q], pids[trial], cams[q],
                                       cams[trial])
        total += [cmc[min(r, len(cmc)) - 1]
                  for r in (1, 5, 10, 20)] + [mAP, mINP]
    return 100 * total / len(meta['gallery_trials'])


def run_metric(metric, meta, samples):
    metric.dataset_meta = meta
    for start in range(0, len(samples), 7):
        metric.process(None, samples[start:start + 7])
    return metric.evaluate(len(samples))


def test_mean_over_trials_matches_functional_core():
    meta, samples, feats, pids, cams = make_eval_set()
    metric = METRICS.build(dict(type='VIReIDMetric'))
    out = run_metric(metric, meta, samples)
    want = expected_scores(meta, feats, pids, cams)
    keys = ['R1', 'R5', 'R10', 'R20', 'mAP', 'mINP']
    assert set(out) == {f'toy-all/{k}' for k in keys}
    np.testing.assert_allclose([out[f'toy-all/{k}'] for k in keys],
                               want,
                               atol=1e-5)
    assert 0 < out['toy-all/mAP'] < 100


def test_order_of_results_does_not_matter():
    meta, samples, *_ = make_eval_set(seed=1)
    a = run_metric(VIReIDMetric(), meta, samples)
    b = run_metric(VIReIDMetric(), meta, samples[::-1])
    assert a == b


def test_cmfp_and_rerank_keys():
    meta, samples, feats, pids, cams = make_eval_set(seed=2)
    metric = VIReIDMetric(cmfp_k=5, rerank=dict(k1=6, k2=3), prefix='x')
    out = run_metric(metric, meta, samples)
    want = expected_scores(meta, feats, pids, cams, propagate_k=5)
    np.testing.assert_allclose([
        out[f'x/cmfp-{k}'] for k in ['R1', 'R5', 'R10', 'R20', 'mAP', 'mINP']
    ],
                               want,
                               atol=1e-4)
    assert out['x/cmfp-k'] == 5
    assert {'x/rerank-R1', 'x/rerank-mAP', 'x/R1'} <= set(out)


def count_calls(monkeypatch, cls, name):
    """Count the calls of ``cls.name`` (still calling it)."""
    calls = []
    original = getattr(cls, name)

    def counted(*args, **kwargs):
        calls.append(args[1:])
        return original(*args, **kwargs)

    monkeypatch.setattr(cls, name, counted)
    return calls


def test_synthvi_config_reports_each_figure_once(monkeypatch):
    """configs/salcr/synthvi.py: plain and test-time CMFP figures, each
    computed once and under one key (issue #9, defect 6)."""
    cfg = Config.fromfile(osp.join(ROOT, 'configs', 'salcr', 'synthvi.py'))
    meta, samples, feats, pids, cams = make_eval_set(seed=5)
    meta = dict(meta, eval_prefix='synthvi-all')
    built = count_calls(monkeypatch, CMFPTrials, '__init__')
    plain = count_calls(monkeypatch, CMFPTrials, 'plain')
    cmfp = count_calls(monkeypatch, CMFPTrials, 'cmfp')
    evaluator = Evaluator(cfg.val_evaluator)
    evaluator.dataset_meta = meta
    for start in range(0, len(samples), 7):
        evaluator.process(samples[start:start + 7])
    out = evaluator.evaluate(len(samples))

    for figure in FIGURES:
        assert [k for k in out if k.endswith('/' + figure)] == \
            [f'synthvi-all/{figure}']
        assert [k for k in out if k.endswith('/cmfp-' + figure)] == \
            [f'synthvi-all/cmfp-{figure}']
    assert len(out) == 2 * len(FIGURES) + 1  # and synthvi-all/cmfp-k
    assert out['synthvi-all/cmfp-k'] == 10
    np.testing.assert_allclose([out[f'synthvi-all/{k}'] for k in FIGURES],
                               expected_scores(meta, feats, pids, cams),
                               atol=1e-5)
    np.testing.assert_allclose([out[f'synthvi-all/cmfp-{k}'] for k in FIGURES],
                               expected_scores(
                                   meta, feats, pids, cams, propagate_k=10),
                               atol=1e-4)
    assert out['synthvi-all/cmfp-mAP'] != out['synthvi-all/mAP']
    assert out['synthvi-all/cmfp-mINP'] != out['synthvi-all/mINP']
    # one similarity pass; each trial ranked once plain and once with CMFP
    num_trials = len(meta['gallery_trials'])
    assert len(built) == 1
    assert sorted(plain) == sorted(cmfp) == [(t, ) for t in range(num_trials)]


CONFIGS = sorted(
    glob.glob(osp.join(ROOT, 'configs', '**', '*.py'), recursive=True) +
    glob.glob(osp.join(ROOT, 'tests', 'data', 'configs', '*.py')))


@pytest.mark.parametrize('path', CONFIGS, ids=lambda p: osp.relpath(p, ROOT))
def test_configs_evaluate_with_one_vireid_metric(path):
    """Two VIReIDMetric on one dataset would report figures twice."""
    cfg = Config.fromfile(path)
    for name in ('val_evaluator', 'test_evaluator'):
        if cfg.get(name) is None:
            continue
        metrics = Evaluator(cfg[name]).metrics
        assert sum(isinstance(m, VIReIDMetric) for m in metrics) <= 1, name


def test_variants_choose_the_reported_figures():
    meta, samples, *_ = make_eval_set(seed=6)
    both = run_metric(VIReIDMetric(cmfp_k=5), meta, samples)
    assert VIReIDMetric(cmfp_k=5).variants == ('plain', 'cmfp')
    only = run_metric(VIReIDMetric(cmfp_k=5, variants=['cmfp']), meta, samples)
    assert only == {k: v for k, v in both.items() if '/cmfp-' in k}
    plain = run_metric(VIReIDMetric(variants='plain'), meta, samples)
    assert plain == {k: v for k, v in both.items() if '/cmfp-' not in k}
    metric = VIReIDMetric(
        cmfp_k=5, rerank=True, variants=('rerank', 'plain', 'cmfp'))
    assert metric.variants == ('plain', 'cmfp', 'rerank')


def test_regdb_protocol_uses_ordinary_cmc():
    meta, samples, feats, pids, cams = make_eval_set(seed=3, trials=1)
    meta = dict(meta, protocol='regdb', eval_prefix='regdb-v2t')
    out = run_metric(VIReIDMetric(), meta, samples)
    want = expected_scores(meta, feats, pids, cams, regdb=True)
    assert out['regdb-v2t/R5'] == pytest.approx(want[1], abs=1e-5)


def test_needs_a_test_split():
    metric = VIReIDMetric()
    metric.dataset_meta = dict(protocol='sysu')
    metric.process(None, make_eval_set()[1][:3])
    with pytest.raises(ValueError, match='split="test"'):
        metric.evaluate(3)


def test_bad_arguments():
    with pytest.raises(ValueError, match='cmc_mode'):
        VIReIDMetric(cmc_mode='fancy')
    with pytest.raises(ValueError, match='cmfp_k'):
        VIReIDMetric(cmfp_k=0)
    for variants in ('fancy', (), ('plain', 'plain'), ['plain', None]):
        with pytest.raises(ValueError, match='distinct variants of'):
            VIReIDMetric(variants=variants)
    with pytest.raises(ValueError, match="'cmfp' needs cmfp_k"):
        VIReIDMetric(variants=('plain', 'cmfp'))
    with pytest.raises(ValueError, match="'rerank' needs rerank"):
        VIReIDMetric(variants='rerank')
    with pytest.raises(ValueError, match="cmfp_k is set but .* 'cmfp'"):
        VIReIDMetric(cmfp_k=10, variants='plain')
    with pytest.raises(ValueError, match="rerank is set but .* 'rerank'"):
        VIReIDMetric(rerank=True, variants=['plain'])


@pytest.mark.parametrize('prefix', [1, ('sysu', ), ['a'], b'sysu'])
def test_a_non_string_prefix_is_refused_when_built(prefix):
    """Not only after the whole run, when mmengine joins it to the keys
    (issue #10, row 10)."""
    with pytest.raises(
            ValueError,
            match=r'VIReIDMetric: prefix must be a string, or None .*; got ' +
            re.escape(f'{prefix!r} ({type(prefix).__name__})')):
        METRICS.build(dict(type='VIReIDMetric', prefix=prefix))
    assert VIReIDMetric(prefix='sysu-all').prefix == 'sysu-all'


WORKER = os.path.join(os.path.dirname(__file__), 'ddp_metric_worker.py')


def test_two_process_gloo_equals_one_process(tmp_path):
    out_path = str(tmp_path / 'ddp.pth')
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        port = sock.getsockname()[1]
    env = dict(
        os.environ,
        PYTHONPATH=os.pathsep.join(
            [os.path.dirname(os.path.dirname(os.path.dirname(WORKER)))] +
            os.environ.get('PYTHONPATH', '').split(os.pathsep)))
    subprocess.run([
        sys.executable, '-m', 'torch.distributed.run', '--nproc_per_node=2',
        f'--master_port={port}', WORKER, out_path
    ],
                   check=True,
                   env=env,
                   timeout=120)
    ddp = torch.load(out_path)
    meta, samples, *_ = make_eval_set(seed=4)
    single = run_metric(VIReIDMetric(cmfp_k=4), meta, samples)
    assert ddp == single
