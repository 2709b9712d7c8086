"""Tests for :class:`mmvireid.models.backbones.MultiStreamBackbone` (the
``TwoStreamBackbone`` of the configs)."""
from copy import deepcopy

import pytest
import torch
from mmengine.model import BaseModule

from mmvireid.models.backbones import MultiStreamBackbone, TwoStreamBackbone
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


def _names(infrared):
    """Modality names of a boolean infrared mask."""
    return ['infrared' if ir else 'visible' for ir in infrared.tolist()]


def _single_stream(cfg, model, modality):
    """Plain mmpretrain backbone holding the stem named ``modality`` +
    the shared stages."""
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
    assert TwoStreamBackbone is MultiStreamBackbone
    assert MODELS.get('MultiStreamBackbone') is MultiStreamBackbone
    assert isinstance(model, TwoStreamBackbone)
    assert MultiStreamBackbone.takes_modalities
    # The default table keeps the two-stream state-dict layout.
    assert model.stem_table == dict(visible='visible', infrared='infrared')
    assert model.modalities == ('visible', 'infrared')
    assert list(model.stems) == ['visible', 'infrared']
    assert {k.split('.')[0]
            for k in model.state_dict()} == {'stems', 'backbone'}
    assert {
        '.'.join(k.split('.')[:2])
        for k in model.state_dict() if k.startswith('stems.')
    } == {'stems.visible', 'stems.infrared'}
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
        outs = model(x, modalities=_names(infrared))
        vis_ref = _single_stream(cfg, model, 'visible')(x)
        ir_ref = _single_stream(cfg, model, 'infrared')(x)
        all_visible = model(x)  # no modalities: the first stem
        all_ir = model(x, modalities=['infrared'] * 5)
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
    out = model(x, modalities=_names(infrared))[-1]
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
        model(x, modalities=['infrared'])


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
    out = model(torch.randn(2, 3, 64, 32), modalities=['visible', 'infrared'])
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


def _old_two_stream_forward(model, x, infrared):
    """The former ``TwoStreamBackbone.forward(x, infrared=mask)``, op for
    op: each stem on its subset (visible first), scattered back into sample
    order with ``index_copy``, then the shared stages."""

    def run_stem(stem, x):
        num_base = len(model._stem_names) - model.num_stem_stages
        outs = {}
        for pos, name in enumerate(model._stem_names):
            x = stem[name](x)
            if pos - num_base >= 0 and pos - num_base in model.out_indices:
                outs[pos - num_base] = x
        outs[-1] = x
        return outs

    n = x.size(0)
    mask = torch.as_tensor(infrared, device=x.device).to(torch.bool)
    num_ir = int(mask.sum())
    if num_ir == 0 or num_ir == n:
        outs = run_stem(model.stems['infrared' if num_ir else 'visible'], x)
    else:
        vis_idx = torch.nonzero(~mask).squeeze(1)
        ir_idx = torch.nonzero(mask).squeeze(1)
        vis = run_stem(model.stems['visible'], x.index_select(0, vis_idx))
        ir = run_stem(model.stems['infrared'], x.index_select(0, ir_idx))
        outs = {}
        for key, v in vis.items():
            merged = v.new_empty((n, ) + tuple(v.shape[1:]))
            merged = merged.index_copy(0, vis_idx, v)
            outs[key] = merged.index_copy(0, ir_idx, ir[key])
    x = outs.pop(-1)
    for stage in range(model.num_stem_stages, model._last + 1):
        x = getattr(model.backbone, model._stage_names[stage])(x)
        if stage in model.out_indices:
            outs[stage] = x
    return tuple(outs[i] for i in sorted(outs))


@pytest.mark.parametrize('cfg,kwargs', [
    (RESNET, dict()),
    (dict(RESNET, out_indices=(0, 3)), dict(num_stem_stages=1)),
    (dict(MBV2, out_indices=(1, 4)), dict(num_stem_stages=2,
                                          truncate_after=4)),
])
@pytest.mark.parametrize('infrared', [
    [False, True, True, False, True, False],
    [False] * 6,
    [True] * 6,
])
@pytest.mark.parametrize('training', [False, True])
def test_default_table_is_bitwise_the_two_stream_forward(
        cfg, kwargs, infrared, training):
    """Same seed, same weights, same op order: outputs, gradients and BN
    statistics are bitwise those of the former two-stream forward."""
    torch.manual_seed(0)
    model = TwoStreamBackbone(cfg, **kwargs)
    _perturb(model.stems['infrared'])
    ref = deepcopy(model)
    model.train(training), ref.train(training)
    x = torch.randn(6, 3, 64, 32, generator=torch.Generator().manual_seed(2))
    outs = model(x, modalities=_names(torch.tensor(infrared)))
    want = _old_two_stream_forward(ref, x, infrared)
    assert len(outs) == len(want) == len(cfg['out_indices'])
    for out, w in zip(outs, want):
        assert torch.equal(out, w)
    if not training:
        return
    sum(o.sum() for o in outs).backward()
    sum(w.sum() for w in want).backward()
    ref_params = dict(ref.named_parameters())
    for name, p in model.named_parameters():
        q = ref_params[name]
        assert (p.grad is None) == (q.grad is None), name
        assert p.grad is None or torch.equal(p.grad, q.grad), name
    ref_state = ref.state_dict()
    for key, value in model.state_dict().items():
        assert torch.equal(value, ref_state[key]), key


THREE = dict(visible='visible', infrared='infrared', augmented='visible')
OWN = dict(visible='visible', infrared='infrared', augmented='augmented')


def test_augmented_view_shares_the_visible_stem():
    torch.manual_seed(0)
    model = TwoStreamBackbone(RESNET, stems=THREE)
    # Two stems, the two-stream state-dict layout.
    assert model.stem_names == ['visible', 'infrared']
    assert list(model.stems) == ['visible', 'infrared']
    assert model.modalities == ('visible', 'infrared', 'augmented')
    _perturb(model.stems['infrared'])
    two = TwoStreamBackbone(RESNET)
    two.load_state_dict(model.state_dict())  # strict: same keys
    model.eval(), two.eval()
    x = torch.randn(6, 3, 64, 32)
    names = [
        'visible', 'augmented', 'infrared', 'augmented', 'infrared', 'visible'
    ]
    aug = torch.tensor([n == 'augmented' for n in names])
    with torch.no_grad():
        out = model(x, modalities=names)[-1]
        # Augmented images are visible images to the stems: bitwise the
        # output of the two-stream table with 'augmented' -> 'visible'.
        as_visible = [n.replace('augmented', 'visible') for n in names]
        assert torch.equal(out, two(x, modalities=as_visible)[-1])
        vis_ref = _single_stream(RESNET, model, 'visible')(x)[-1]
        ir_ref = _single_stream(RESNET, model, 'infrared')(x)[-1]
    torch.testing.assert_close(out[aug], vis_ref[aug])
    assert not torch.allclose(out[aug], ir_ref[aug])
    # In training, the visible stem's BN sees visible and augmented images
    # together, the infrared one only infrared images.
    model = TwoStreamBackbone(RESNET, stems=THREE).train()
    model(x, modalities=names)
    ir = torch.tensor([n == 'infrared' for n in names])
    for stem, mask in (('visible', ~ir), ('infrared', ir)):
        with torch.no_grad():
            feat = model.stems[stem]['conv1'](x[mask])
        torch.testing.assert_close(model.stems[stem]['bn1'].running_mean,
                                   0.1 * feat.mean((0, 2, 3)))


def test_augmented_view_with_its_own_stem():
    torch.manual_seed(0)
    model = TwoStreamBackbone(RESNET, stems=OWN)
    assert list(model.stems) == ['visible', 'infrared', 'augmented']
    vis = dict(model.stems['visible'].named_parameters())
    for name, p in model.stems['augmented'].named_parameters():
        assert p is not vis[name]
        assert torch.equal(p, vis[name])  # a copy of the stem
    assert any(k.startswith('stems.augmented.') for k in model.state_dict())
    _perturb(model.stems['augmented'], seed=5)
    model.eval()
    x = torch.randn(5, 3, 64, 32)
    names = ['augmented', 'visible', 'infrared', 'augmented', 'visible']
    aug = torch.tensor([n == 'augmented' for n in names])
    with torch.no_grad():
        out = model(x, modalities=names)[-1]
        aug_ref = _single_stream(RESNET, model, 'augmented')(x)[-1]
        vis_ref = _single_stream(RESNET, model, 'visible')(x)[-1]
    torch.testing.assert_close(out[aug], aug_ref[aug])
    torch.testing.assert_close(out[~aug], vis_ref[~aug])  # vis == ir here
    assert not torch.allclose(out[aug], vis_ref[aug])


def test_stem_names_are_config_data():
    model = TwoStreamBackbone(
        RESNET, stems=dict(ir='thermal', rgb='colour', ca='colour'))
    # The first stem of the table gets the wrapped backbone's own stem.
    assert model.stem_names == ['thermal', 'colour']
    assert model.stems['thermal']['conv1'] is not \
        model.stems['colour']['conv1']
    model.eval()
    out = model(torch.randn(3, 3, 64, 32), modalities=['rgb', 'ca', 'ir'])
    assert out[-1].shape == (3, 512, 2, 1)


def test_unknown_modality_and_bad_tables():
    model = TwoStreamBackbone(RESNET).eval()
    x = torch.randn(2, 3, 64, 32)
    with pytest.raises(
            ValueError, match=r"'thermal'.*\('visible', 'infrared'\)"):
        model(x, modalities=['visible', 'thermal'])
    with pytest.raises(ValueError, match='entries'):
        model(x, modalities=['visible'] * 3)
    with pytest.raises(TypeError, match='sequence of names'):
        model(x, modalities='visible')
    for stems in (dict(), ['visible'], dict(visible='a.b'), dict(visible='')):
        with pytest.raises(ValueError, match='stems'):
            TwoStreamBackbone(RESNET, stems=stems)


def test_init_and_frozen_stages_reach_every_stem(tmp_path):
    path = tmp_path / 'pretrained.pth'
    state = _checkpoint(RESNET, path, seed=3)
    cfg = dict(
        RESNET,
        frozen_stages=0,
        norm_eval=True,
        init_cfg=dict(type='Pretrained', checkpoint=str(path)))
    model = TwoStreamBackbone(cfg, stems=OWN)
    parent = BaseModule()
    parent.backbone = model
    parent.init_weights()
    for key, value in model.state_dict().items():
        if key.startswith('stems.'):
            assert torch.equal(value, state[key.split('.', 2)[2]]), key
    model.train()
    for stem in model.stems.values():
        assert not any(p.requires_grad for p in stem.parameters())
        assert not stem['bn1'].training
