import math

import pytest
import torch
import torch.nn.functional as F

from mmvireid.evaluation.functional import (cross_modality_propagation,
                                            intra_topk)


def _dense_block(sim, k):
    """Keep each row's top-k entries, zero non-positive ones, row-normalise."""
    k = min(k, sim.size(1))
    kth = torch.sort(sim, dim=1, descending=True).values[:, k - 1:k]
    kept = torch.where((sim >= kth) & (sim > 0), sim, torch.zeros_like(sim))
    row_sum = kept.sum(dim=1, keepdim=True)
    return torch.where(row_sum > 0, kept / row_sum, torch.zeros_like(kept))


def _dense_cmfp(feats_a, feats_b, k):
    """Dense reference: f' = normalise(A @ F) with the 2x2 block matrix A."""
    feats_a, feats_b = F.normalize(feats_a, dim=1), F.normalize(feats_b, dim=1)
    affinity = torch.cat([
        torch.cat([
            _dense_block(feats_a @ feats_a.t(), k),
            _dense_block(feats_a @ feats_b.t(), k)
        ],
                  dim=1),
        torch.cat([
            _dense_block(feats_b @ feats_a.t(), k),
            _dense_block(feats_b @ feats_b.t(), k)
        ],
                  dim=1)
    ])
    new = F.normalize(affinity @ torch.cat([feats_a, feats_b]), dim=1)
    return new[:len(feats_a)], new[len(feats_a):]


@pytest.mark.parametrize('k', [1, 3, 8, 50])
def test_cmfp_matches_dense_reference(k):
    gen = torch.Generator().manual_seed(k)
    feats_a = torch.randn(17, 6, generator=gen)
    feats_b = torch.randn(23, 6, generator=gen)
    new_a, new_b = cross_modality_propagation(
        feats_a, feats_b, k, chunk_size=4)
    ref_a, ref_b = _dense_cmfp(feats_a, feats_b, k)
    torch.testing.assert_close(new_a, ref_a, atol=1e-5, rtol=0)
    torch.testing.assert_close(new_b, ref_b, atol=1e-5, rtol=0)


def test_cmfp_hand_computed_2_plus_2_points():
    a = torch.tensor([[1., 0.], [0., 1.]])
    b = torch.tensor([[0.6, 0.8], [0.8, -0.6]])  # a.b = [[.6, .8], [.8, -.6]]
    s = 1 / math.sqrt(3.6)
    # k=1: self (weight 1) + nearest of the other set (weight 1)
    new_a, new_b = cross_modality_propagation(a, b, k=1)
    torch.testing.assert_close(new_a,
                               torch.tensor([[1.8, -0.6], [0.6, 1.8]]) *
                               s)  # a1 + b2, a2 + b1
    torch.testing.assert_close(new_b,
                               torch.tensor([[0.6, 1.8], [1.8, -0.6]]) *
                               s)  # b1 + a2, b2 + a1
    # k=2: a1.a2 = 0 and b1.b2 = 0 are dropped; a1 -> a1 + 3/7 b1 + 4/7 b2
    # = (12/7, 0); a2 -> a2 + b1 (b2 negative); b1 -> b1 + 3/7 a1 + 4/7 a2
    # = (7.2, 9.6) / 7; b2 -> b2 + a1 (a2 negative)
    new_a, new_b = cross_modality_propagation(a, b, k=2)
    torch.testing.assert_close(new_a,
                               torch.tensor([[1., 0.], [0.6 * s, 1.8 * s]]))
    torch.testing.assert_close(new_b,
                               torch.tensor([[0.6, 0.8], [1.8 * s, -0.6 * s]]))


def test_cmfp_row_without_positive_neighbour_gets_no_contribution():
    a = torch.tensor([[-1., 0.], [0., 1.]])
    b = torch.tensor([[1., 0.]])
    new_a, new_b = cross_modality_propagation(a, b, k=1)
    assert not torch.isnan(new_a).any() and not torch.isnan(new_b).any()
    # a1 . b1 = -1: only the intra block (itself) contributes
    torch.testing.assert_close(new_a[0], torch.tensor([-1., 0.]))
    # a2 . b1 = 0 is dropped too
    torch.testing.assert_close(new_a[1], torch.tensor([0., 1.]))
    # b1: nearest a is a2 with cosine 0 -> dropped; stays itself
    torch.testing.assert_close(new_b, torch.tensor([[1., 0.]]))


def test_cmfp_precomputed_query_block_is_reused():
    gen = torch.Generator().manual_seed(5)
    queries = torch.randn(20, 8, generator=gen)
    topk_aa = intra_topk(queries, k=4)
    for _ in range(2):  # e.g. two SYSU trials with different galleries
        gallery = torch.randn(15, 8, generator=gen)
        expected = cross_modality_propagation(queries, gallery, 4)
        reused = cross_modality_propagation(
            queries, gallery, 4, topk_aa=topk_aa)
        for out, ref in zip(reused, expected):
            torch.testing.assert_close(out, ref)
    with pytest.raises(ValueError, match='topk_aa'):
        cross_modality_propagation(queries, gallery, 5, topk_aa=topk_aa)
    # inputs are normalised internally: scaling changes nothing
    scaled = cross_modality_propagation(3 * queries, 0.5 * gallery, 4)
    for out, ref in zip(scaled, expected):
        torch.testing.assert_close(out, ref)
