import torch

from mmvireid.models.losses import positive_nll
from mmvireid.registry import MODELS
from mmvireid.utils import register_all_modules

register_all_modules()


def build(**kwargs):
    return MODELS.build(dict(type='MultiPositiveContrastLoss', **kwargs))


def test_row_loss_is_minus_log_mass_on_the_positive_set():
    logits = torch.tensor([[1.0, 2.0, 3.0], [0.0, 0.0, 0.0]])
    positives = torch.tensor([[True, False, True], [False, False, False]])
    nll, used = positive_nll(logits, positives, torch.tensor([True, True]))
    p = torch.softmax(logits[0], 0)
    torch.testing.assert_close(nll[0], -torch.log(p[0] + p[2]))
    assert used.tolist() == [True, False]
    assert torch.isfinite(nll).all()


def test_mean_over_used_rows_weighted_and_none_without_rows():
    torch.manual_seed(0)
    logits = torch.randn(4, 5, requires_grad=True)
    positives = torch.rand(4, 5) > 0.5
    positives[2] = False  # no positive: skipped
    rows = torch.tensor([True, True, True, False])  # row 3 not allowed
    loss = build(loss_weight=0.5)(logits, positives, rows)
    nll, _ = positive_nll(logits, positives, rows)
    torch.testing.assert_close(loss, 0.5 * nll[:2].mean())
    loss.backward()
    assert logits.grad[2:].abs().sum() == 0
    assert build()(logits, positives, torch.zeros(4, dtype=torch.bool)) \
        is None


def test_per_group_mean_of_group_means():
    torch.manual_seed(1)
    logits = torch.randn(3, 2, 4)  # rows (3,) x groups (2,)
    positives = torch.ones(3, 2, 4, dtype=torch.bool)
    positives[:, 1] = False
    positives[0, 1, 1] = True  # group 1: one row only
    rows = torch.ones(3, 2, dtype=torch.bool)
    loss = build()(logits, positives, rows, per_group=True)
    nll, _ = positive_nll(logits, positives, rows)
    expected = (nll[:, 0].mean() + nll[0, 1]) / 2
    torch.testing.assert_close(loss, expected)
    assert build()(
        logits, torch.zeros_like(positives), rows, per_group=True) is None
