import numpy as np
import pytest
import torch
import torch.nn.functional as F

from mmvireid.evaluation.functional import (CMFPTrials, cmfp_distance_trials,
                                            cross_modality_propagation,
                                            eval_sysu, intra_topk)


def _per_trial(q_feats, g_feats, trials, k):
    """Reference: one cross_modality_propagation per trial."""
    topk_aa = intra_topk(q_feats, k)
    out = []
    for trial in trials:
        q, g = cross_modality_propagation(
            q_feats, g_feats[trial], k, topk_aa=topk_aa)
        out.append(-q @ g.t())
    return out


def _toy(seed, num_q=40, num_pool=50, dim=8, num_ids=5):
    """Clustered features (identity centres + noise), so blocks have both
    positive and clamped-negative similarities."""
    gen = torch.Generator().manual_seed(seed)
    centres = torch.randn(num_ids, dim, generator=gen)
    q = centres[torch.randint(num_ids, (num_q, ), generator=gen)]
    g = centres[torch.randint(num_ids, (num_pool, ), generator=gen)]
    q = q + 0.8 * torch.randn(num_q, dim, generator=gen)
    g = g + 0.8 * torch.randn(num_pool, dim, generator=gen)
    return q, g, gen


@pytest.mark.parametrize('k', [1, 3, 8, 30, 60])
def test_equals_per_trial_propagation(k):
    q, g, gen = _toy(k)
    # overlapping galleries of different sizes; pool rows 45.. never used
    trials = [torch.randperm(45, generator=gen)[:n] for n in (20, 25, 12)]
    ref = _per_trial(q, g, trials, k)
    distances = CMFPTrials(3 * q, g, trials, k)  # scale: normalised inside
    assert len(distances) == 3
    for t, trial in enumerate(trials):
        torch.testing.assert_close(
            distances.cmfp(t), ref[t], atol=1e-5, rtol=0)
        plain = F.normalize(q, dim=1) @ F.normalize(g[trial], dim=1).t()
        torch.testing.assert_close(distances.plain(t), -plain)
    for got, want in zip(cmfp_distance_trials(q, g, trials, k), ref):
        torch.testing.assert_close(got, want, atol=1e-5, rtol=0)


def test_plain_distances_are_bit_identical_on_this_blas():
    q, g, gen = _toy(7, num_q=300, num_pool=120, dim=64)
    trials = [torch.randperm(120, generator=gen)[:75] for _ in range(3)]
    distances = CMFPTrials(q, g, trials)
    qn, gn = F.normalize(q, dim=1), F.normalize(g, dim=1)
    for t, trial in enumerate(trials):
        # the metric's former expression, -q @ g.T per trial
        assert torch.equal(distances.plain(t), -qn @ gn[trial].t())
    with pytest.raises(ValueError, match='without k'):
        distances.cmfp(0)


def test_chunked_similarities_and_large_sets():
    q, g, gen = _toy(3, num_q=70, num_pool=60, dim=16)
    trials = [torch.randperm(60, generator=gen)[:35] for _ in range(2)]
    ref = _per_trial(q, g, trials, 6)
    # chunk_size below both set sizes: chunked similarity products
    distances = CMFPTrials(q, g, trials, 6, chunk_size=16)
    for t in range(2):
        torch.testing.assert_close(
            distances.cmfp(t), ref[t], atol=1e-5, rtol=0)


def test_exact_ties_pick_the_same_neighbours():
    # entries in {-1, 0, 1}: many exactly tied similarities, also at the
    # k-th place of top-k lists; both paths rank identical matrices
    gen = torch.Generator().manual_seed(1)
    q = torch.randint(-1, 2, (60, 5), generator=gen).float()
    g = torch.randint(-1, 2, (40, 5), generator=gen).float()
    q[q.abs().sum(1) == 0, 0] = 1  # no zero rows
    g[g.abs().sum(1) == 0, 1] = 1
    trials = [torch.randperm(40, generator=gen)[:25] for _ in range(3)]
    for k in (2, 5, 13):
        ref = _per_trial(q, g, trials, k)
        for got, want in zip(cmfp_distance_trials(q, g, trials, k), ref):
            torch.testing.assert_close(got, want, atol=1e-5, rtol=0)


def test_rows_without_positive_neighbours_and_zero_features():
    # every cross-modality cosine <= 0: the q-g and g-q blocks are all zero
    q = torch.tensor([[1., 0., 0.], [0.9, 0.1, 0.], [0., 0., 0.]])
    g = torch.tensor([[-1., 0., 0.], [0., -1., 0.], [-0.5, -0.5, 0.]])
    trials = [[0, 1], [1, 2], [0, 1, 2]]
    for k in (1, 2, 5):
        ref = _per_trial(q, g, [torch.tensor(t) for t in trials], k)
        got = list(cmfp_distance_trials(q, g, trials, k))
        for a, b in zip(got, ref):
            assert not torch.isnan(a).any()
            torch.testing.assert_close(a, b, atol=1e-5, rtol=0)
        # the zero query stays zero: distance 0 to everything
        assert got[0][2].abs().max() == 0


def test_bad_arguments():
    q, g = torch.randn(4, 3), torch.randn(5, 3)
    with pytest.raises(ValueError, match='same D'):
        CMFPTrials(q, torch.randn(5, 2), [[0]])
    with pytest.raises(ValueError, match='k must be'):
        CMFPTrials(q, g, [[0]], k=0)
    with pytest.raises(ValueError, match='at least one trial'):
        CMFPTrials(q, g, [])


def test_large_gallery_branch():
    # num_g > 32 * k: the g-g term as a sparse product
    q, g, gen = _toy(11, num_q=50, num_pool=90, dim=12)
    trials = [torch.randperm(90, generator=gen)[:70] for _ in range(2)]
    ref = _per_trial(q, g, trials, 2)
    for got, want in zip(cmfp_distance_trials(q, g, trials, 2), ref):
        assert got.is_contiguous()
        torch.testing.assert_close(got, want, atol=1e-5, rtol=0)


def test_sysu_metrics_identical_to_per_trial_path():
    q, g, gen = _toy(5, num_q=200, num_pool=120, dim=32, num_ids=12)
    q_pid = torch.randint(12, (200, ), generator=gen).numpy()
    g_pid = torch.randint(12, (120, ), generator=gen).numpy()
    q_cam = torch.randint(3, 7, (200, ), generator=gen).numpy()
    g_cam = torch.randint(1, 3, (120, ), generator=gen).numpy()
    trials = [torch.randperm(120, generator=gen)[:60] for _ in range(3)]
    ref = _per_trial(q, g, trials, 10)
    got = cmfp_distance_trials(q, g, trials, 10)
    for trial, a, b in zip(trials, got, ref):
        t = trial.numpy()
        ours = eval_sysu(a.numpy(), q_pid, g_pid[t], q_cam, g_cam[t])
        want = eval_sysu(b.numpy(), q_pid, g_pid[t], q_cam, g_cam[t])
        np.testing.assert_array_equal(ours[0], want[0])
        np.testing.assert_allclose(ours[1:], want[1:], rtol=0, atol=1e-12)
