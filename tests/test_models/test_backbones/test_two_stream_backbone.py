"""Tests for :class:`mmvireid.models.backbones.TwoStreamBackbone`."""
import pytest
import torch
from mmengine.model import BaseModule

from mmvireid.models.backbones import TwoStreamBackbone
from mmvireid.registry import MODELS

RESNET = dict(type='mmpretrain.ResNet', depth=18, out_indices=(3, ))
MBV2 = dict(type='mmpretrain.MobileNetV2', out_indices=(4, ))


def _perturb(module, seed=1):
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in module.parameters():  # relative: keeps the scale sane
            p.mul_(1 + 0.2 * torch.randn(p.shape, generator=g))
        for name, b in module.named_buffers():
            if name.endswith('running_mean'):
                b.add_(0.1 * torch.randn(b.shape, generator=g))


def _single_stream(cfg, model, modality):
    """Plain mmpretrain backbone holding ``modality``'s stem + shared."""
    ref = MODELS.build(cfg)
    state = {}
    for key, value in model.state_dict().items():
        prefix = f'stems.{modality}.'
        if key.startswith(prefix):
            state[key[len(prefix):]] = value
        elif key.startswith('backbone.'):
            state[key[len('backbone.'):]] = value
    missing, unexpected = ref.load_state_dict(state, strict=False)
    assert unexpected == []
    # Only stages dropped by ``truncate_after`` may be missing.
    assert all(
        k.split('.')[0] in ('layer6', 'layer7', 'conv2') for k in missing)
    ref.eval()
    return ref


def test_registry_and_layout_resnet():
    model = MODELS.build(dict(type='TwoStreamBackbone', backbone=RESNET))
    assert isinstance(model, TwoStreamBackbone)
    vis, ir = model.stems['visible'], model.stems['infrared']
    assert list(vis) == list(ir) == ['conv1', 'bn1', 'relu', 'maxpool']
    # Separate stems: distinct parameter objects, equal values at build.
    vis_params = dict(vis.named_parameters())
    ir_params = dict(ir.named_parameters())
    assert vis_params.keys() == ir_params.keys()
    for name, p in vis_params.items():
        assert p is not ir_params[name]
        assert torch.equal(p, ir_params[name])
    # Shared: layer1-4 exist once, in the wrapped backbone only.
    stem_ids = {id(p) for p in model.stems.parameters()}
    shared = list(model.backbone.parameters())
    assert shared and not stem_ids & {id(p) for p in shared}
    ref = MODELS.build(RESNET)
    stem_numel = sum(p.numel() for p in vis.parameters())
    assert sum(p.numel() for p in model.parameters()) == \
        sum(p.numel() for p in ref.parameters()) + stem_numel
    assert not any(k.startswith('backbone.conv1') for k in model.state_dict())


@pytest.mark.parametrize('cfg,kwargs,shape', [
    (RESNET, dict(), (512, 2, 1)),
    (dict(RESNET, out_indices=(0, 3)), dict(num_stem_stages=1), (512, 2, 1)),
    (MBV2, dict(truncate_after=4), (96, 4, 2)),
    (dict(MBV2, out_indices=(1, 4)), dict(num_stem_stages=2, truncate_after=4),
     (96, 4, 2)),
])
def test_samples_follow_their_modality(cfg, kwargs, shape):
    torch.manual_seed(0)
    model = TwoStreamBackbone(cfg, **kwargs)
    _perturb(model.stems['infrared'])  # make the two stems differ
    model.eval()
    x = torch.randn(5, 3, 64, 32)
    infrared = torch.tensor([False, True, True, False, True])
    with torch.no_grad():
        outs = model(x, infrared=infrared)
        vis_ref = _single_stream(cfg, model, 'visible')(x)
        ir_ref = _single_stream(cfg, model, 'infrared')(x)
        all_visible = model(x)
        all_ir = model(x, infrared=[True] * 5)
    assert isinstance(outs, tuple)
    assert len(outs) == len(cfg['out_indices']) == len(vis_ref)
    assert outs[-1].shape == (5, ) + shape
    for out, v, r, av, ai in zip(outs, vis_ref, ir_ref, all_visible, all_ir):
        # IR sample == IR stem + shared layers alone (and visible likewise).
        torch.testing.assert_close(out[infrared], r[infrared])
        torch.testing.assert_close(out[~infrared], v[~infrared])
        torch.testing.assert_close(av, v)
        torch.testing.assert_close(ai, r)
        assert not torch.allclose(v[infrared], r[infrared])


def test_truncated_mobilenetv2_layout():
    model = TwoStreamBackbone(MBV2, num_stem_stages=1, truncate_after=4)
    assert list(model.stems['infrared']) == ['conv1', 'layer1']
    names = {
        k.split('.')[1]
        for k in model.state_dict() if k.startswith('backbone.')
    }
    assert names == {'layer2', 'layer3', 'layer4', 'layer5'}
    with pytest.raises(ValueError, match='out_indices'):
        TwoStreamBackbone(dict(MBV2, out_indices=(7, )), truncate_after=4)
    with pytest.raises(ValueError, match='truncate_after'):
        TwoStreamBackbone(MBV2, truncate_after=8)
    with pytest.raises(ValueError, match='num_stem_stages'):
        TwoStreamBackbone(MBV2, num_stem_stages=6, truncate_after=4)
    with pytest.raises(TypeError, match='not supported'):
        TwoStreamBackbone(dict(type='mmpretrain.LeNet5'))


def test_train_mode_bn_statistics_and_gradients():
    torch.manual_seed(0)
    model = TwoStreamBackbone(RESNET)
    model.train()
    x = torch.randn(4, 3, 32, 16)
    infrared = torch.tensor([True, False, False, True])
    out = model(x, infrared=infrared)[-1]
    out.sum().backward()
    for modality, mask in (('visible', ~infrared), ('infrared', infrared)):
        bn = model.stems[modality]['bn1']
        conv = model.stems[modality]['conv1']
        assert conv.weight.grad is not None and conv.weight.grad.abs().sum()
        # Each stem's BN tracked the statistics of its own images only.
        with torch.no_grad():
            feat = conv(x[mask])
        expected = 0.1 * feat.mean((0, 2, 3))
        torch.testing.assert_close(bn.running_mean, expected)
    with pytest.raises(ValueError, match='entries'):
        model(x, infrared=torch.tensor([True]))


def test_frozen_stages_and_norm_eval_reach_both_stems():
    model = TwoStreamBackbone(
        dict(RESNET, frozen_stages=1, norm_eval=True), num_stem_stages=1)
    model.train()
    for modality in ('visible', 'infrared'):
        stem = model.stems[modality]
        assert not any(p.requires_grad for p in stem.parameters())
        assert not stem['bn1'].training
        assert not stem['layer1'].training
    assert all(p.requires_grad for p in model.backbone.layer2.parameters())
    assert not model.backbone.layer2[0].bn1.training  # norm_eval


def test_deep_stem():
    model = TwoStreamBackbone(
        dict(type='mmpretrain.ResNetV1c', depth=18, out_indices=(3, )))
    assert list(model.stems['infrared']) == ['stem', 'maxpool']
    model.eval()
    out = model(torch.randn(2, 3, 64, 32), infrared=[False, True])
    assert out[0].shape == (2, 512, 2, 1)


def _checkpoint(cfg, path, seed):
    torch.manual_seed(seed)
    net = MODELS.build(dict(cfg, init_cfg=None))
    _perturb(net, seed)
    state = net.state_dict()
    torch.save(dict(state_dict=state), str(path))
    return state


@pytest.mark.parametrize('cfg,kwargs', [
    (RESNET, dict()),
    (MBV2, dict(num_stem_stages=1, truncate_after=4)),
])
def test_pretrained_init_reaches_both_stems(cfg, kwargs, tmp_path):
    path = tmp_path / 'pretrained.pth'
    state = _checkpoint(cfg, path, seed=3)
    cfg = dict(cfg, init_cfg=dict(type='Pretrained', checkpoint=str(path)))
    model = TwoStreamBackbone(cfg, **kwargs)
    # Initialised as a child of a top-level MMEngine module, as in ReIDer.
    parent = BaseModule()
    parent.backbone = model
    parent.init_weights()
    assert model.is_init
    checked = 0
    for key, value in model.state_dict().items():
        if key.startswith('stems.'):
            src = key.split('.', 2)[2]
        else:
            src = key[len('backbone.'):]
        assert torch.equal(value, state[src]), key
        checked += 1
    assert checked == len(model.state_dict())
    for name, p in model.stems['visible'].named_parameters():
        assert p is not dict(model.stems['infrared'].named_parameters())[name]
    # After init the stems are still independent modules, and a repeated
    # init_weights does not copy the visible stem over the infrared one.
    first = next(model.stems['infrared'].parameters())
    with torch.no_grad():
        first.add_(1.0)
    model.init_weights()
    assert not torch.equal(first, next(model.stems['visible'].parameters()))
