"""Tests for :class:`mmvireid.models.necks.PACBAMNeck`."""
import pytest
import torch
import torch.nn.functional as F

from mmvireid.models.necks import GeMBNNeck, PACBAMNeck
from mmvireid.registry import MODELS
from mmvireid.utils import register_all_modules

register_all_modules()


def _neck(**kwargs):
    torch.manual_seed(0)
    cfg = dict(type='PACBAMNeck', in_channels=8, num_regions=2, reduction=2)
    cfg.update(kwargs)
    return MODELS.build(cfg)


def _maps(shape=(3, 8, 6, 4), seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(shape, generator=g)


def test_registry_shapes_and_output_contract():
    neck = _neck(num_regions=3)
    assert isinstance(neck, PACBAMNeck)
    assert isinstance(neck.pooling, GeMBNNeck)
    assert neck.pooling.in_channels == 8  # filled in from the neck's
    x = _maps()
    out = neck((torch.randn(3, 2, 12, 8), x))  # a backbone's tuple: last
    assert isinstance(out, tuple) and len(out) == 2
    assert out[0].shape == out[1].shape == (3, 8)
    neck.eval()
    feats = neck.forward_features(x)
    assert set(feats) == {'global'} | set(neck.provided_features)
    assert feats['refined_map'].shape == (3, 8, 6, 4)
    assert feats['channel_weights'].shape == (3, 8)
    assert feats['spatial_weights'].shape == (3, 1, 6, 4)
    # 'global' is the retrieval feature: the pooling neck's last output of
    # the refined map (what ReIDer.pool takes of forward)
    torch.testing.assert_close(feats['global'], neck(x)[-1])
    torch.testing.assert_close(feats['global'],
                               neck.pooling(feats['refined_map'])[-1])


def test_gates_are_in_open_unit_interval():
    neck = _neck()
    x = _maps()
    channel = neck.channel_weights(x)
    spatial = neck.spatial_weights(x)
    for gate in (channel, spatial):
        assert (gate > 0).all() and (gate < 1).all()
        assert gate.std() > 0  # not a constant


def test_channel_gate_is_region_aware():
    neck = _neck(num_regions=2)
    x = _maps()  # 6 rows: regions are rows 0-2 and 3-5
    base = neck.channel_weights(x)
    # the pooled descriptors ignore where a pixel lies inside its region
    within = x[:, :, [2, 0, 1, 3, 5, 4]].flip(3)
    torch.testing.assert_close(neck.channel_weights(within), base)
    # but swapping the regions changes the weights (a global channel gate,
    # as CBAM's, would not see it)
    swapped = x[:, :, [3, 4, 5, 0, 1, 2]]
    assert not torch.allclose(neck.channel_weights(swapped), base)
    # changing region 1 acts through region 1's descriptors only:
    # descriptors are laid out channel-major (index c * K + k)
    changed = x.clone()
    changed[:, :, 3:] = _maps(seed=1)[:, :, 3:]
    assert not torch.allclose(neck.channel_weights(changed), base)
    with torch.no_grad():
        neck.mlp[0].weight[:, 1::2] = 0  # region 1's columns
    blind = neck.channel_weights(x)
    torch.testing.assert_close(neck.channel_weights(changed), blind)
    other = x.clone()
    other[:, :, :3] = _maps(seed=1)[:, :, :3]
    assert not torch.allclose(neck.channel_weights(other), blind)


def _reach(neck, size=15):
    """Rows, around the centre, of the spatial map that a change at the
    centre of a map reaches (the branches' receptive radius)."""
    x = _maps((1, 8, size, size), seed=2)
    moved = x.clone()
    moved[0, :, size // 2, size // 2] += 5.0
    diff = (neck.spatial_weights(moved) - neck.spatial_weights(x)).abs()
    rows = torch.nonzero(diff[0, 0].amax(1) > 0).flatten()
    return int(rows.max() - size // 2)


def test_spatial_gate_uses_all_three_kernel_sizes():
    neck = _neck()
    assert [b.conv.kernel_size for b in neck.branches] == [(1, 1), (3, 3),
                                                           (7, 7)]
    assert _reach(neck) == 3
    # each branch alone (the others cut at the fuse) reaches k // 2 rows:
    # every kernel size is used, with its own extent
    for keep, k in enumerate((1, 3, 7)):
        alone = _neck()
        with torch.no_grad():
            for i in range(3):
                if i != keep:
                    alone.fuse.weight[:, i] = 0
        assert _reach(alone) == k // 2
    # and zeroing any one branch changes the spatial map
    x = _maps()
    base = neck.spatial_weights(x)
    for i in range(3):
        cut = _neck()
        with torch.no_grad():
            cut.branches[i].conv.weight.zero_()
            cut.branches[i].conv.bias.zero_()
        assert not torch.allclose(cut.spatial_weights(x), base)


def test_output_equals_manual_composition():
    neck = _neck(in_channels=4, num_regions=2, reduction=2).eval()
    x = _maps((2, 4, 4, 3), seed=3)
    # PI-CA by hand: regions are rows 0-1 and 2-3
    regions = (x[:, :, :2], x[:, :, 2:])
    avg = torch.stack([r.mean((2, 3)) for r in regions], -1).flatten(1)
    peak = torch.stack([r.amax((2, 3)) for r in regions], -1).flatten(1)
    w0, b0 = neck.mlp[0].weight, neck.mlp[0].bias
    w1, b1 = neck.mlp[2].weight, neck.mlp[2].bias

    def mlp(d):
        return (d @ w0.t() + b0).clamp(min=0) @ w1.t() + b1

    channel = torch.sigmoid(mlp(avg) + mlp(peak))
    x1 = x * channel[:, :, None, None]
    # M-SA by hand
    pooled = torch.cat([x1.mean(1, keepdim=True), x1.amax(1, keepdim=True)], 1)
    scales = torch.cat([
        F.conv2d(pooled, b.conv.weight, b.conv.bias, padding=k // 2)
        for b, k in zip(neck.branches, (1, 3, 7))
    ], 1)
    spatial = torch.sigmoid(F.conv2d(scales, neck.fuse.weight, neck.fuse.bias))
    refined = x1 * spatial
    # GeM (p = 3) and the BNNeck in eval mode
    gem = refined.clamp(min=1e-6).pow(3).mean((2, 3)).pow(1 / 3)
    bn = neck.pooling.bn
    want = (gem - bn.running_mean) / torch.sqrt(bn.running_var + bn.eps)
    feats = neck.forward_features(x)
    torch.testing.assert_close(feats['channel_weights'], channel)
    torch.testing.assert_close(feats['spatial_weights'], spatial)
    torch.testing.assert_close(feats['refined_map'], refined)
    torch.testing.assert_close(feats['global'], want * bn.weight)


def test_gradients_flow_to_every_parameter_and_the_input():
    neck = _neck()
    x = _maps().requires_grad_()
    feats = neck.forward_features(x)
    (feats['global'].pow(2).sum() + feats['channel_weights'].sum()).backward()
    assert x.grad is not None and x.grad.abs().sum() > 0
    for name, param in neck.named_parameters():
        if param.requires_grad:
            assert param.grad is not None, name
            assert torch.isfinite(param.grad).all(), name
            assert param.grad.abs().sum() > 0, name
    # the regulariser alone reaches the channel MLP, not the spatial gate
    neck.zero_grad()
    neck.forward_features(_maps())['channel_weights'].sum().backward()
    assert neck.mlp[0].weight.grad.abs().sum() > 0
    assert neck.fuse.weight.grad is None or not neck.fuse.weight.grad.any()


def test_without_pooling_the_refined_map_is_returned():
    neck = _neck(pooling=None)
    x = _maps()
    feats = neck.forward_features(x)
    torch.testing.assert_close(neck(x), feats['refined_map'])
    torch.testing.assert_close(feats['global'], feats['refined_map'].mean(
        (2, 3)))


def test_heights_not_divisible_by_the_regions_work():
    for height in (5, 2):  # uneven bins; fewer rows than regions
        neck = _neck(num_regions=4)
        feats = neck.forward_features(_maps((2, 8, height, 3)))
        assert feats['channel_weights'].shape == (2, 8)
        assert feats['refined_map'].shape == (2, 8, height, 3)


def test_forwards_are_independent():
    # nothing of a forward is kept on the module: a second batch does not
    # change what the first one returned or will return
    neck = _neck().eval()
    a, b = _maps(seed=4), _maps(seed=5)
    first = neck.forward_features(a)['channel_weights']
    neck.forward_features(b)
    torch.testing.assert_close(
        neck.forward_features(a)['channel_weights'], first)


def test_composes_with_the_reider_pooling():
    model = MODELS.build(
        dict(
            type='ReIDer',
            backbone=dict(
                type='mmpretrain.ResNet',
                depth=18,
                stem_channels=8,
                base_channels=8,
                out_indices=(3, )),
            neck=dict(type='PACBAMNeck', in_channels=64))).eval()
    images = torch.rand(2, 3, 128, 64)
    with torch.no_grad():
        feat_map = model.extract_map(images)
        assert feat_map.shape == (2, 64, 4, 2)
        torch.testing.assert_close(
            model.extract(images)['global'],
            model.neck.forward_features(feat_map)['global'])


def test_invalid_arguments_name_the_key():
    with pytest.raises(ValueError, match='reduction=16'):
        PACBAMNeck(8, reduction=16)
    with pytest.raises(ValueError, match='kernel_sizes'):
        PACBAMNeck(8, reduction=2, kernel_sizes=(1, 4))
    with pytest.raises(ValueError, match='num_regions'):
        PACBAMNeck(8, num_regions=0, reduction=2)
    with pytest.raises(ValueError, match='in_channels=8'):
        _neck()(torch.randn(2, 6, 4, 4))
