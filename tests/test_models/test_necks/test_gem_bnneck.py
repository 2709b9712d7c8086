"""Tests for :class:`mmvireid.models.necks.GeMBNNeck`."""
import pytest
import torch
import torch.nn.functional as F

from mmvireid.models.necks import GeMBNNeck
from mmvireid.registry import MODELS


def _maps(seed=0, shape=(4, 8, 4, 2)):
    g = torch.Generator().manual_seed(seed)
    return 0.1 + 0.9 * torch.rand(shape, generator=g)  # positive


def test_registry_and_output_contract():
    neck = MODELS.build(dict(type='GeMBNNeck', in_channels=8))
    assert isinstance(neck, GeMBNNeck)
    x = _maps()
    out = neck((torch.randn(4, 3, 8, 4), x))  # a backbone's tuple: last used
    assert isinstance(out, tuple) and len(out) == 2
    pooled, bn_feat = out
    assert pooled.shape == bn_feat.shape == (4, 8)
    torch.testing.assert_close(pooled, neck.gem(x))
    neck.eval()
    # Retrieval feature (last element) = BN of the pooled feature.
    pooled, bn_feat = neck(x)
    bn = neck.bn
    torch.testing.assert_close(bn_feat, (pooled - bn.running_mean) /
                               torch.sqrt(bn.running_var + bn.eps) * bn.weight)
    with pytest.raises(ValueError):
        neck(torch.randn(4, 8))


def test_p1_is_average_pooling():
    neck = GeMBNNeck(8, p=1.0)
    x = _maps()
    torch.testing.assert_close(
        neck(x)[0],
        F.adaptive_avg_pool2d(x, 1).flatten(1))


def test_large_p_approaches_max_pooling():
    x = _maps(shape=(4, 8, 4, 4))
    max_pool = x.amax(dim=(2, 3))
    errors = []
    for p in (1.0, 3.0, 10.0, 30.0, 80.0):
        pooled = GeMBNNeck(8, p=p)(x)[0]
        assert (pooled <= max_pool + 1e-6).all()
        errors.append((max_pool - pooled).abs().max().item())
    assert errors == sorted(errors, reverse=True)
    # <= (1 - 16 ** (-1 / 80)) ~ 3.4% of the max for a 4x4 map
    assert errors[-1] < 0.035


def test_bn_bias_frozen_at_zero():
    neck = GeMBNNeck(8, learnable_p=True)
    neck.init_weights()
    assert not neck.bn.bias.requires_grad
    assert torch.equal(neck.bn.bias, torch.zeros(8))
    trainable = [p for p in neck.parameters() if p.requires_grad]
    assert all(p is not neck.bn.bias for p in trainable)
    optim = torch.optim.SGD(trainable, lr=1.0, weight_decay=0.1)
    for _ in range(2):
        optim.zero_grad()
        _, feat = neck(_maps())
        (feat * torch.arange(8.)).sum().backward()
        optim.step()
    assert torch.equal(neck.bn.bias, torch.zeros(8))
    assert neck.p.grad is not None  # learnable p is trained
    assert not torch.equal(neck.p.detach(), torch.tensor([3.0]))


def test_fixed_p_is_a_buffer():
    neck = GeMBNNeck(8, p=4.0)
    assert 'p' in dict(neck.named_buffers())
    assert 'p' not in dict(neck.named_parameters())
    assert torch.equal(neck.state_dict()['p'], torch.tensor([4.0]))
    with pytest.raises(ValueError):
        GeMBNNeck(8, p=0.0)
