"""Tests for :class:`mmvireid.models.losses.ChannelIdentityLoss`."""
import math

import pytest
import torch

from mmvireid.registry import MODELS
from mmvireid.utils import register_all_modules

register_all_modules()


def build(**kwargs):
    return MODELS.build(dict(type='ChannelIdentityLoss', **kwargs))


def brute_force(weights, labels, spaces, margin, loss_weight):
    """The loss with a loop over every ordered pair."""
    pos, neg = [], []
    for i in range(len(labels)):
        for j in range(len(labels)):
            if i == j or labels[i] < 0 or labels[j] < 0:
                continue
            if spaces is not None and spaces[i] != spaces[j]:
                continue
            d = math.sqrt(
                sum((a - b)**2
                    for a, b in zip(weights[i], weights[j])) / len(weights[i]))
            if labels[i] == labels[j]:
                pos.append(d**2)
            else:
                neg.append(max(0.0, margin - d)**2)
    pull = sum(pos) / len(pos) if pos else 0.0
    push = sum(neg) / len(neg) if neg else 0.0
    return loss_weight * (pull + push)


def test_zero_when_ids_are_consistent_and_apart():
    # RMS difference between the ids: 0.8 > margin 0.5
    a = torch.tensor([0.9, 0.1, 0.9, 0.1])
    b = torch.tensor([0.1, 0.9, 0.1, 0.9])
    weights = torch.stack([a, a, b, b, a]).requires_grad_()
    loss = build(
        margin=0.5, loss_weight=1.0)(weights, torch.tensor([0, 0, 1, 1, 0]))
    assert loss.item() == 0
    loss.backward()
    assert torch.isfinite(weights.grad).all()


def test_positive_when_ids_are_spread_or_close():
    loss_fn = build(margin=0.5, loss_weight=1.0)
    a = torch.tensor([0.9, 0.1, 0.9, 0.1])
    b = torch.tensor([0.1, 0.9, 0.1, 0.9])
    # one id spread: pull = mean over its 2 ordered pairs of d² = 0.1² / 4
    spread = torch.stack([a, a + torch.tensor([0.1, 0, 0, 0]), b])
    got = loss_fn(spread, torch.tensor([0, 0, 1]))
    pull = 0.1**2 / 4
    assert got.item() > 0
    # both ids are farther than the margin from each other: push = 0
    assert got.item() == pytest.approx(pull)
    # two ids closer than the margin (RMS 0.1): push = (0.5 - 0.1)²
    close = torch.stack([a, a + 0.1])
    assert loss_fn(close, torch.tensor([0, 1])).item() == pytest.approx(0.16)
    # weighted by loss_weight (λ, 0.1 by default)
    assert build(margin=0.5)(close,
                             torch.tensor([0,
                                           1])).item() == pytest.approx(0.016)


def test_outliers_are_ignored():
    torch.manual_seed(0)
    weights = torch.rand(6, 5, requires_grad=True)
    labels = torch.tensor([0, 0, 1, -1, 1, -1])
    loss_fn = build(margin=0.3)
    loss = loss_fn(weights, labels)
    kept = torch.tensor([0, 1, 2, 4])
    torch.testing.assert_close(loss, loss_fn(weights[kept], labels[kept]))
    loss.backward()
    assert not weights.grad[[3, 5]].any()
    assert weights.grad[kept].abs().sum(1).gt(0).all()
    # only outliers: a zero that keeps the graph
    none = loss_fn(weights, torch.full((6, ), -1))
    assert none.item() == 0 and none.requires_grad


@pytest.mark.parametrize('with_spaces', [False, True])
def test_matches_brute_force_on_random_data(with_spaces):
    g = torch.Generator().manual_seed(1)
    weights = torch.rand(24, 7, generator=g, dtype=torch.float64)
    labels = torch.randint(-1, 4, (24, ), generator=g)
    spaces = torch.randint(0, 2, (24, ), generator=g) if with_spaces else None
    margin, loss_weight = 0.35, 0.1
    got = build(
        margin=margin, loss_weight=loss_weight)(weights, labels, spaces)
    want = brute_force(weights.tolist(), labels.tolist(),
                       None if spaces is None else spaces.tolist(), margin,
                       loss_weight)
    assert want > 0
    assert got.item() == pytest.approx(want, rel=1e-5)


def test_label_spaces_keep_clusters_of_different_spaces_apart():
    # label 0 of space 0 and label 0 of space 1 are different clusters:
    # neither pulled together nor pushed apart
    a = torch.tensor([0.2, 0.8])
    b = torch.tensor([0.7, 0.3])
    weights = torch.stack([a, a, b, b])
    labels = torch.tensor([0, 0, 0, 0])
    loss_fn = build(margin=1.0, loss_weight=1.0)
    assert loss_fn(weights, labels).item() > 0  # one space: b pulled to a
    spaces = torch.tensor([0, 0, 1, 1])
    assert loss_fn(weights, labels, spaces).item() == 0


def test_one_identity_batch_is_the_pull_term():
    weights = torch.tensor([[0.2, 0.4], [0.4, 0.4], [0.2, 0.6]],
                           requires_grad=True)
    loss = build(margin=0.5, loss_weight=1.0)(weights, torch.zeros(3))
    # ordered pairs' d² = |w_i - w_j|² / 2: 0.02, 0.02, 0.04 (twice each)
    assert loss.item() == pytest.approx((0.02 + 0.02 + 0.04) / 3)
    loss.backward()
    assert torch.isfinite(weights.grad).all()
    # a single valid row has no pair at all
    single = build()(weights, torch.tensor([3, -1, -1]))
    assert single.item() == 0 and single.requires_grad


def test_duplicate_rows_of_different_ids_have_finite_gradients():
    weights = torch.tensor([[0.5, 0.5], [0.5, 0.5]], requires_grad=True)
    loss = build(margin=0.2, loss_weight=1.0)(weights, torch.tensor([0, 1]))
    assert loss.item() == pytest.approx(0.04)
    loss.backward()
    assert torch.isfinite(weights.grad).all()


def test_half_precision_weights():
    weights = torch.rand(4, 3).half()
    loss = build()(weights, torch.tensor([0, 0, 1, 1]))
    assert loss.dtype == torch.float32 and torch.isfinite(loss)


def test_invalid_inputs_name_the_argument():
    with pytest.raises(ValueError, match='margin'):
        build(margin=-0.1)
    loss_fn = build()
    with pytest.raises(ValueError, match='channel_weights'):
        loss_fn(torch.rand(4), torch.zeros(4))
    with pytest.raises(ValueError, match='labels'):
        loss_fn(torch.rand(4, 3), torch.zeros(3))
    with pytest.raises(ValueError, match='label_spaces'):
        loss_fn(torch.rand(4, 3), torch.zeros(4), torch.zeros(2))
