import numpy as np
import pytest
import torch

from mmvireid.evaluation.functional import (eval_sysu, roc_auc, sysu_keep_mask,
                                            verification_pairs,
                                            verification_roc)


def mann_whitney_auc(scores, labels):
    """Brute force: every positive-negative pair, ties count one half."""
    pos, neg = scores[labels], scores[~labels]
    wins = (pos[:, None] > neg[None, :]).sum()
    ties = (pos[:, None] == neg[None, :]).sum()
    return (wins + 0.5 * ties) / (pos.size * neg.size)


def polyline_tpr(scores, labels, num_points):
    """Brute force: the ROC vertices threshold by threshold, read at evenly
    spaced FPRs, the highest TPR where the curve is vertical."""
    vertices = [(0, 0)]
    for t in np.unique(scores)[::-1]:
        vertices.append((int((scores[~labels]
                              >= t).sum()), int((scores[labels] >= t).sum())))
    num_neg, num_pos = (~labels).sum(), labels.sum()
    out = []
    for x in np.linspace(0, 1, num_points):
        m, best = x * num_neg, -1.0
        for (f0, t0), (f1, t1) in zip(vertices[:-1], vertices[1:]):
            if f0 - 1e-9 <= m <= f1 + 1e-9:
                if f1 == f0:
                    best = max(best, t0, t1)
                else:
                    best = max(best, t0 + (m - f0) / (f1 - f0) * (t1 - t0))
        out.append(best / num_pos)
    return np.array(out)


def test_auc_is_the_mann_whitney_count_with_ties():
    rng = np.random.default_rng(0)
    for _ in range(30):
        size = int(rng.integers(4, 80))
        # few distinct values: many positive-negative ties
        scores = rng.integers(0, 6, size).astype(np.float32)
        labels = rng.random(size) < 0.4
        labels[:2] = True, False
        auc, fpr, tpr = roc_auc(scores, labels, num_points=21)
        assert auc == pytest.approx(
            mann_whitney_auc(scores, labels), abs=1e-12)
        np.testing.assert_allclose(fpr, np.linspace(0, 1, 21))
        np.testing.assert_allclose(tpr, polyline_tpr(scores, labels, 21))


def test_auc_matches_sklearn():
    metrics = pytest.importorskip('sklearn.metrics')
    rng = np.random.default_rng(1)
    scores = np.round(rng.normal(size=500), 1)
    labels = rng.random(500) < 0.1
    auc, _, _ = roc_auc(torch.from_numpy(scores), torch.from_numpy(labels))
    assert auc == pytest.approx(
        metrics.roc_auc_score(labels, scores), abs=1e-12)


def test_separated_reversed_and_tied_scores():
    labels = np.array([True, True, False, False, False])
    auc, _, tpr = roc_auc([5., 4., 3., 2., 1.], labels, num_points=4)
    assert auc == 1.0
    np.testing.assert_array_equal(tpr, [1, 1, 1, 1])  # upper end at FPR 0
    auc, _, tpr = roc_auc([1., 2., 3., 4., 5.], labels, num_points=4)
    assert auc == 0.0
    np.testing.assert_array_equal(tpr, [0, 0, 0, 1])
    # all tied: every pair counts one half, the curve is the diagonal
    auc, _, tpr = roc_auc(np.ones(5), labels, num_points=4)
    assert auc == 0.5
    np.testing.assert_allclose(tpr, [0, 1 / 3, 2 / 3, 1])
    # one tie among two pairs: (1 + 0.5) / 2
    assert roc_auc([1., 1., 0.], [True, False, False])[0] == 0.75


def test_camera_rule_and_skipped_queries():
    # query 0: cam 3, its cam-2 gallery item 1 is a very close impostor;
    # query 1: cam 6 keeps it; query 2: cam 3, its only match is in cam 2
    dist = np.array(
        [[0.1, 0.0, 0.9, 0.8], [0.2, 0.3, 0.1, 0.9], [0.5, 0.6, 0.4, 0.0]],
        dtype=np.float32)
    q_pids, g_pids = np.array([0, 1, 9]), np.array([0, 5, 1, 9])
    q_cams, g_cams = np.array([3, 6, 3]), np.array([1, 2, 4, 2])
    keep = sysu_keep_mask(q_cams, g_cams)
    np.testing.assert_array_equal(keep[0], [True, False, True, False])
    scores, labels = verification_pairs(dist, q_pids, g_pids, q_cams, g_cams)
    # query 0 keeps items 0 and 2; query 1 all four; query 2 nothing
    np.testing.assert_array_equal(
        scores, -np.array([0.1, 0.9, 0.2, 0.3, 0.1, 0.9], dtype=np.float32))
    np.testing.assert_array_equal(labels, [1, 0, 0, 0, 1, 0])
    auc, _, _ = verification_roc(dist, q_pids, g_pids, q_cams, g_cams)
    assert auc == pytest.approx(mann_whitney_auc(scores, labels.astype(bool)))
    assert auc == 1.0  # the excluded impostor (dist 0.0) does not enter
    # the ranking skips query 2 too: same pairs, same valid queries
    assert eval_sysu(dist[:2], q_pids[:2], g_pids, q_cams[:2],
                     g_cams)[1] == eval_sysu(dist, q_pids, g_pids, q_cams,
                                             g_cams)[1]
    # without cameras (RegDB) every pair enters, the impostor included
    no_rule, _, _ = verification_roc(dist, q_pids, g_pids)
    assert no_rule < 1.0


def test_pooled_over_queries_matches_brute_force():
    rng = np.random.default_rng(2)
    dist = rng.integers(0, 8, (12, 15)).astype(np.float32)
    q_pids, g_pids = rng.integers(0, 4, 12), rng.integers(0, 4, 15)
    q_cams, g_cams = rng.choice([3, 6], 12), rng.choice([1, 2, 4, 5], 15)
    keep = ~((q_cams[:, None] == 3) & (g_cams[None] == 2))
    same = q_pids[:, None] == g_pids[None]
    keep &= (same & keep).any(1, keepdims=True)
    auc, _, _ = verification_roc(dist, q_pids, g_pids, q_cams, g_cams)
    assert auc == pytest.approx(mann_whitney_auc(-dist[keep], same[keep]))


def test_errors_name_the_input():
    with pytest.raises(ValueError, match='NaN'):
        roc_auc([0.1, np.nan], [True, False])
    with pytest.raises(ValueError, match='2 positive and 0 negative'):
        roc_auc([0.1, 0.2], [True, True])
    with pytest.raises(ValueError, match='labels has shape'):
        roc_auc([0.1, 0.2], [True])
    with pytest.raises(ValueError, match='num_points'):
        roc_auc([0.1, 0.2], [True, False], num_points=1)
    with pytest.raises(ValueError, match='g_pids has shape'):
        verification_pairs(np.zeros((2, 3)), [0, 1], [0, 1])
    with pytest.raises(ValueError, match='got only q_camids'):
        verification_pairs(np.zeros((2, 2)), [0, 1], [0, 1], q_camids=[3, 3])
