import numpy as np
import pytest
import torch
from tool_scripts import load_tool, run_quick

from mmvireid.evaluation.functional import cross_modality_propagation
from mmvireid.models.utils import (cluster_centroids, dual_association,
                                   sinkhorn_association)

bench = load_tool('analysis_tools/benchmark_cmfp.py')


def test_quick_run_agrees():
    stdout = run_quick('analysis_tools/benchmark_cmfp.py')
    assert 'results agree' in stdout
    rows = [line for line in stdout.splitlines() if line.startswith('|')]
    cmfp = next(r for r in rows if r.startswith('| train-time CMFP'))
    assert float(cmfp.split('max diff ')[1].split(' ')[0]) <= 1e-5
    ot = next(r for r in rows if '(reference stop)' in r)
    assert ot.endswith('identical: True |')


@pytest.mark.parametrize('k', [1, 4, 40])
def test_dense_baseline_matches_ours(k):
    dense_cmfp = bench.load_baseline('salcr_dense_cmfp').dense_cmfp
    gen = torch.Generator().manual_seed(k)
    a, b = torch.randn(31, 8, generator=gen), torch.randn(17, 8, generator=gen)
    for ours, ref in zip(
            cross_modality_propagation(a, b, k), dense_cmfp(a, b, k)):
        torch.testing.assert_close(ours, ref, atol=1e-5, rtol=0)


def test_dense_sinkhorn_matches_reference_stop():
    baseline = bench.load_baseline('salcr_dense_sinkhorn')
    feats_v, feats_r, labels_v, labels_r = bench.sysu_like_modalities(
        300, 200, 12, 32, 1.0, seed=3)
    assert (labels_v == -1).any() and (labels_r >= 0).any()
    f_v, f_r = torch.from_numpy(feats_v), torch.from_numpy(feats_r)
    t_v, t_r = torch.from_numpy(labels_v), torch.from_numpy(labels_r)
    c_v, c_r = cluster_centroids(f_v, t_v), cluster_centroids(f_r, t_r)
    kept = labels_r >= 0
    np.testing.assert_array_equal(
        baseline.dense_sinkhorn_labels(feats_r[kept], c_v.numpy()),
        sinkhorn_association(f_r[kept], c_v, reference_stop=True).numpy())
    ours = dual_association(f_v, t_v, f_r, t_r, c_v, c_r, reference_stop=True)
    ref = baseline.dense_dual_association(feats_v, labels_v, feats_r, labels_r)
    for o, r in zip(ours, ref):
        np.testing.assert_array_equal(o.numpy(), r)


def test_synthetic_modalities_are_seeded_unit_vectors():
    first = bench.sysu_like_modalities(120, 80, 6, 16, 1.0, seed=1)
    again = bench.sysu_like_modalities(120, 80, 6, 16, 1.0, seed=1)
    for x, y in zip(first, again):
        np.testing.assert_array_equal(x, y)
    feats_v, feats_r, labels_v, labels_r = first
    assert feats_v.shape == (120, 16) and feats_r.shape == (80, 16)
    assert feats_v.dtype == np.float32 and labels_v.dtype == np.int64
    np.testing.assert_allclose(np.linalg.norm(feats_r, axis=1), 1, atol=1e-5)
    assert labels_r.min() >= -1 and labels_r.max() < 6
