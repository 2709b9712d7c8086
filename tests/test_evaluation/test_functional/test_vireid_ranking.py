import itertools
import time

import numpy as np
import pytest
import torch

from mmvireid.evaluation.functional import eval_regdb, eval_sysu
from mmvireid.evaluation.functional import vireid_ranking


def _reference_eval_sysu(distmat,
                         q_pids,
                         g_pids,
                         q_camids,
                         g_camids,
                         max_rank=20,
                         pad_ragged=False,
                         curve='dedup'):
    """Literal port of AGW/CAJ ``eval_metrics.eval_sysu`` (stable sort).

    ``pad_ragged=True`` adds our documented fix: per-query dedup curves of
    different lengths are padded with their last value (the original
    raises ValueError when stacking them). ``curve='ordinary'`` returns the
    per-image curve ``all_cmc`` that the original computes but discards.
    """
    num_q, num_g = distmat.shape
    if num_g < max_rank:
        max_rank = num_g
    indices = np.argsort(distmat, axis=1, kind='stable')
    pred_label = g_pids[indices]
    matches = (g_pids[indices] == q_pids[:, np.newaxis]).astype(np.int32)
    new_all_cmc = []
    all_cmc = []
    all_AP = []
    all_INP = []
    num_valid_q = 0.
    for q_idx in range(num_q):
        q_pid = q_pids[q_idx]
        q_camid = q_camids[q_idx]
        order = indices[q_idx]
        remove = (q_camid == 3) & (g_camids[order] == 2)
        keep = np.invert(remove)
        new_cmc = pred_label[q_idx][keep]
        new_index = np.unique(new_cmc, return_index=True)[1]
        new_cmc = [new_cmc[index] for index in sorted(new_index)]
        new_match = (np.asarray(new_cmc) == q_pid).astype(np.int32)
        new_cmc = new_match.cumsum()
        new_all_cmc.append(new_cmc[:max_rank])
        orig_cmc = matches[q_idx][keep]
        if not np.any(orig_cmc):
            continue
        cmc = orig_cmc.cumsum()
        pos_idx = np.where(orig_cmc == 1)
        pos_max_idx = np.max(pos_idx)
        inp = cmc[pos_max_idx] / (pos_max_idx + 1.0)
        all_INP.append(inp)
        cmc[cmc > 1] = 1
        all_cmc.append(cmc[:max_rank])
        num_valid_q += 1.
        num_rel = orig_cmc.sum()
        tmp_cmc = orig_cmc.cumsum()
        tmp_cmc = [x / (i + 1.) for i, x in enumerate(tmp_cmc)]
        tmp_cmc = np.asarray(tmp_cmc) * orig_cmc
        AP = tmp_cmc.sum() / num_rel
        all_AP.append(AP)
    assert num_valid_q > 0, 'Error: all query identities do not appear'
    if pad_ragged:
        all_cmc, new_all_cmc = _pad_with_last(all_cmc), _pad_with_last(
            new_all_cmc)
    all_cmc = np.asarray(all_cmc).astype(np.float32)
    all_cmc = all_cmc.sum(0) / num_valid_q
    new_all_cmc = np.asarray(new_all_cmc).astype(np.float32)
    new_all_cmc = new_all_cmc.sum(0) / num_valid_q
    cmc = new_all_cmc if curve == 'dedup' else all_cmc
    return cmc, np.mean(all_AP), np.mean(all_INP)


def _pad_with_last(curves):
    length = max(len(c) for c in curves)
    return [np.pad(c, (0, length - len(c)), mode='edge') for c in curves]


def _reference_eval_regdb(distmat, q_pids, g_pids, max_rank=20):
    """Literal port of AGW/CAJ ``eval_metrics.eval_regdb`` (stable sort)."""
    num_q, num_g = distmat.shape
    if num_g < max_rank:
        max_rank = num_g
    indices = np.argsort(distmat, axis=1, kind='stable')
    matches = (g_pids[indices] == q_pids[:, np.newaxis]).astype(np.int32)
    all_cmc = []
    all_AP = []
    all_INP = []
    num_valid_q = 0.
    for q_idx in range(num_q):
        raw_cmc = matches[q_idx]
        if not np.any(raw_cmc):
            continue
        cmc = raw_cmc.cumsum()
        pos_idx = np.where(raw_cmc == 1)
        pos_max_idx = np.max(pos_idx)
        inp = cmc[pos_max_idx] / (pos_max_idx + 1.0)
        all_INP.append(inp)
        cmc[cmc > 1] = 1
        all_cmc.append(cmc[:max_rank])
        num_valid_q += 1.
        num_rel = raw_cmc.sum()
        tmp_cmc = raw_cmc.cumsum()
        tmp_cmc = [x / (i + 1.) for i, x in enumerate(tmp_cmc)]
        tmp_cmc = np.asarray(tmp_cmc) * raw_cmc
        AP = tmp_cmc.sum() / num_rel
        all_AP.append(AP)
    assert num_valid_q > 0, 'Error: all query identities do not appear'
    all_cmc = np.asarray(all_cmc).astype(np.float32)
    all_cmc = all_cmc.sum(0) / num_valid_q
    return all_cmc, np.mean(all_AP), np.mean(all_INP)


def _assert_same(ours, ref):
    cmc, mAP, mINP = ours
    assert cmc.dtype == np.float32
    assert isinstance(mAP, float) and isinstance(mINP, float)
    np.testing.assert_allclose(cmc, ref[0], rtol=0, atol=1e-7)
    np.testing.assert_allclose(mAP, ref[1], rtol=0, atol=1e-12)
    np.testing.assert_allclose(mINP, ref[2], rtol=0, atol=1e-12)


def _random_sysu(rng, num_q, num_g, num_ids, ties=False):
    # every camera appears in every identity often enough that all queries
    # keep the same number of distinct identities (the reference's domain)
    g_pids = np.concatenate(
        [np.arange(num_ids),
         rng.integers(0, num_ids, num_g - num_ids)])
    g_camids = rng.choice([1, 2, 4, 5], size=num_g)
    q_pids = rng.integers(0, num_ids + 3, num_q)  # some invalid queries
    q_camids = rng.choice([3, 6], size=num_q)
    if ties:
        distmat = rng.integers(0, 4, (num_q, num_g)).astype(np.float32)
    else:
        distmat = rng.random((num_q, num_g))
    return distmat, q_pids, g_pids, q_camids, g_camids


@pytest.mark.parametrize('seed', range(12))
def test_eval_sysu_matches_reference_on_random_inputs(seed):
    rng = np.random.default_rng(seed)
    num_ids = int(rng.integers(3, 12))
    num_g = int(rng.integers(num_ids * 8, num_ids * 12))
    args = _random_sysu(rng, 40, num_g, num_ids, ties=seed % 3 == 0)
    for max_rank in (1, 5, 20):
        _assert_same(
            eval_sysu(*args, max_rank=max_rank),
            _reference_eval_sysu(*args, max_rank=max_rank))


@pytest.mark.parametrize('seed', range(8))
def test_eval_sysu_short_gallery_matches_padded_reference(seed):
    rng = np.random.default_rng(50 + seed)
    num_g = int(rng.integers(2, 15))
    g_pids = rng.integers(0, 6, num_g)
    g_camids = rng.choice([1, 2], size=num_g)
    q_pids = np.append(rng.integers(0, 6, 25), g_pids[0])
    q_camids = rng.choice([3, 6], size=26)
    distmat = rng.random((26, num_g))
    args = (distmat, q_pids, g_pids, q_camids, g_camids)
    for max_rank, mode in itertools.product((2, 20), ('dedup', 'ordinary')):
        _assert_same(
            eval_sysu(*args, max_rank=max_rank, cmc_mode=mode),
            _reference_eval_sysu(
                *args, max_rank=max_rank, pad_ragged=True, curve=mode))


@pytest.mark.parametrize('seed', range(12))
def test_eval_regdb_matches_reference_on_random_inputs(seed):
    rng = np.random.default_rng(100 + seed)
    num_q, num_g = int(rng.integers(1, 30)), int(rng.integers(1, 40))
    q_pids = rng.integers(0, 6, num_q)
    q_pids[0] = 0
    g_pids = rng.integers(0, 6, num_g)
    g_pids[0] = 0
    if seed % 2:
        distmat = rng.integers(0, 3, (num_q, num_g)).astype(np.float64)
    else:
        distmat = rng.standard_normal((num_q, num_g))
    for max_rank in (1, 3, 20):
        _assert_same(
            eval_regdb(distmat, q_pids, g_pids, max_rank),
            _reference_eval_regdb(distmat, q_pids, g_pids, max_rank))


def test_eval_sysu_ordinary_mode_matches_regdb_without_cam3_queries():
    rng = np.random.default_rng(7)
    distmat, q_pids, g_pids, _, g_camids = _random_sysu(rng, 30, 60, 8)
    q_camids = np.full(30, 6)
    cmc, mAP, mINP = eval_sysu(
        distmat, q_pids, g_pids, q_camids, g_camids, cmc_mode='ordinary')
    _assert_same((cmc, mAP, mINP),
                 _reference_eval_regdb(distmat, q_pids, g_pids))


def test_camera_rule_cam3_drops_all_cam2_and_cam6_drops_nothing():
    g_pids = np.array([5, 1, 1])
    g_camids = np.array([2, 2, 1])  # cam-2 images: id 5 (other) and id 1
    distmat = np.array([[0.1, 0.2, 0.3]])
    q_pids = np.array([1])
    # cam-3 query: the ranked list [5, 1, 1] becomes [1] -> rank 1, AP 1
    cmc, mAP, mINP = eval_sysu(
        distmat, q_pids, g_pids, np.array([3]), g_camids, max_rank=3)
    np.testing.assert_array_equal(cmc, [1.])  # one kept identity
    assert mAP == 1.0 and mINP == 1.0
    # cam-6 query keeps everything: list [5, 1, 1]; hits at ranks 2 and 3
    cmc, mAP, mINP = eval_sysu(
        distmat, q_pids, g_pids, np.array([6]), g_camids, max_rank=3)
    np.testing.assert_array_equal(cmc, [0., 1.])  # dedup list [5, 1]
    assert mAP == pytest.approx((1 / 2 + 2 / 3) / 2)
    assert mINP == pytest.approx(2 / 3)


def test_invalid_query_is_skipped():
    rng = np.random.default_rng(3)
    distmat, q_pids, g_pids, q_camids, g_camids = _random_sysu(rng, 10, 50, 5)
    q_pids[:] = rng.integers(0, 5, 10)
    with_invalid = eval_sysu(
        np.vstack([distmat, rng.random((1, 50))]), np.append(q_pids, 99),
        g_pids, np.append(q_camids, 3), g_camids)
    without = eval_sysu(distmat, q_pids, g_pids, q_camids, g_camids)
    np.testing.assert_array_equal(with_invalid[0], without[0])
    assert with_invalid[1:] == without[1:]


def test_no_valid_query_and_bad_shapes_raise():
    with pytest.raises(ValueError, match='no query has a true match'):
        eval_regdb(np.zeros((2, 3)), np.array([7, 8]), np.array([1, 2, 3]))
    with pytest.raises(ValueError, match=r'g_pids has shape \(2,\)'):
        eval_regdb(np.zeros((2, 3)), np.array([1, 2]), np.array([1, 2]))
    with pytest.raises(ValueError, match='q_camids'):
        eval_sysu(
            np.zeros((2, 3)), np.array([1, 2]), np.array([1, 2, 3]),
            np.array([3]), np.array([1, 1, 1]))
    with pytest.raises(ValueError, match='cmc_mode'):
        eval_sysu(
            np.zeros((1, 1)),
            np.array([1]),
            np.array([1]),
            np.array([3]),
            np.array([1]),
            cmc_mode='unique')


def test_dedup_cmc_differs_from_ordinary_and_ap_inp_values():
    # ranked gallery identities for query id 1: [2, 2, 1, 3, 1]
    g_pids = np.array([2, 2, 1, 3, 1])
    g_camids = np.ones(5, dtype=int)
    distmat = np.arange(5, dtype=float)[None]
    args = (distmat, np.array([1]), g_pids, np.array([6]), g_camids)
    dedup, mAP, mINP = eval_sysu(*args, max_rank=5)
    ordinary, mAP2, mINP2 = eval_sysu(*args, max_rank=5, cmc_mode='ordinary')
    np.testing.assert_array_equal(dedup, [0., 1., 1.])  # dedup [2, 1, 3]
    np.testing.assert_array_equal(ordinary, [0., 0., 1., 1., 1.])
    # hits at ranks 3 and 5: AP = (1/3 + 2/5) / 2, INP = 2 / 5
    assert mAP == mAP2 == pytest.approx((1 / 3 + 2 / 5) / 2)
    assert mINP == mINP2 == pytest.approx(2 / 5)


def test_ties_are_ranked_by_gallery_index():
    distmat = np.array([[0.5, 0.5, 0.5]])
    cmc, mAP, mINP = eval_regdb(distmat, np.array([1]), np.array([0, 1, 1]))
    np.testing.assert_array_equal(cmc, [0., 1., 1.])
    assert mAP == pytest.approx((1 / 2 + 2 / 3) / 2)
    assert mINP == pytest.approx(2 / 3)
    cmc, mAP, _ = eval_regdb(distmat, np.array([1]), np.array([1, 0, 1]))
    np.testing.assert_array_equal(cmc, [1., 1., 1.])
    assert mAP == pytest.approx((1 + 2 / 3) / 2)


def test_short_gallery_with_unequal_dedup_lengths_is_padded():
    # identities 1, 2 in cam 1, identity 3 only in cam 2
    g_pids = np.array([3, 2, 1])
    g_camids = np.array([2, 1, 1])
    distmat = np.array([
        [0., 1., 2.],  # cam-3 query, id 1: list [2, 1]
        [0., 1., 2.]
    ])  # cam-6 query, id 1: list [3, 2, 1]
    q_pids = np.array([1, 1])
    q_camids = np.array([3, 6])
    with pytest.raises(ValueError):  # the reference cannot stack the curves
        _reference_eval_sysu(distmat, q_pids, g_pids, q_camids, g_camids)
    cmc, mAP, mINP = eval_sysu(distmat, q_pids, g_pids, q_camids, g_camids)
    # length min(20, 3, 3) = 3; cam-3 curve [0, 1] is padded to [0, 1, 1]
    np.testing.assert_allclose(cmc, [0., 0.5, 1.], rtol=0, atol=0)
    assert mAP == pytest.approx((1 / 2 + 1 / 3) / 2)
    assert mINP == pytest.approx((1 / 2 + 1 / 3) / 2)
    # num_g < max_rank on RegDB: length num_g
    cmc, _, _ = eval_regdb(distmat, q_pids, g_pids)
    np.testing.assert_array_equal(cmc, [0., 0., 1.])


def test_regdb_has_no_camera_rule():
    # same ranked list as the cam-3 case above; RegDB keeps the cam-2 item
    cmc, mAP, _ = eval_regdb(
        np.array([[0., 1., 2.]]), np.array([1]), np.array([3, 2, 1]))
    np.testing.assert_array_equal(cmc, [0., 0., 1.])
    assert mAP == pytest.approx(1 / 3)


def test_torch_inputs_and_query_chunking(monkeypatch):
    rng = np.random.default_rng(11)
    args = _random_sysu(rng, 50, 300, 20)
    expected = _reference_eval_sysu(*args)
    # 1000 elements per chunk -> 3 queries per chunk, last chunk partial
    monkeypatch.setattr(vireid_ranking, '_MAX_CHUNK_ELEMENTS', 1000)
    _assert_same(eval_sysu(*map(torch.from_numpy, args)), expected)
    _assert_same(
        eval_regdb(*map(torch.from_numpy, args[:3])),
        _reference_eval_regdb(*args[:3]))


def test_sysu_scale_speed():
    rng = np.random.default_rng(0)
    distmat, q_pids, g_pids, q_camids, g_camids = _random_sysu(
        rng, 3803, 301, 96)
    q_pids = rng.integers(0, 96, 3803)
    start = time.perf_counter()
    eval_sysu(distmat, q_pids, g_pids, q_camids, g_camids)
    assert time.perf_counter() - start < 1.0
