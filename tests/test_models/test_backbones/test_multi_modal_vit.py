"""Tests for :class:`mmvireid.models.backbones.MultiModalViT` (tiny ViTs)."""
import pytest
import torch
from mmpretrain.models.utils import resize_pos_embed

from mmvireid.models.backbones import IBNConvPatchEmbed, MultiModalViT
from mmvireid.models.backbones.vit_checkpoint import timm_to_mmpretrain
from mmvireid.registry import MODELS
from mmvireid.structures import VIReIDDataSample
from mmvireid.utils import register_all_modules

register_all_modules()  # the ReIDer's default data preprocessor

TINY = dict(embed_dims=32, num_layers=2, num_heads=2, feedforward_channels=64)
STEMS3 = dict(visible='visible', infrared='infrared', augmented='visible')


def _vit(img_size=(384, 128), **kwargs):
    return dict(
        type='mmpretrain.VisionTransformer',
        arch=TINY,
        img_size=img_size,
        patch_size=16,
        **kwargs)


def _build(stems=STEMS3, init_cfg=None, seed=0, **kwargs):
    torch.manual_seed(seed)
    model = MODELS.build(
        dict(
            type='MultiModalViT',
            vit=_vit(),
            stems=stems,
            init_cfg=init_cfg,
            **kwargs))
    model.init_weights()
    return model.eval()


def _reference_vit(img_size, seed=1):
    """A plain mmpretrain ViT (the library's forward is the reference)."""
    torch.manual_seed(seed)
    ref = MODELS.build(_vit(img_size, out_type='featmap'))
    ref.init_weights()
    with torch.no_grad():  # non-trivial biases, cls token and pos_embed
        for p in ref.parameters():
            p.add_(0.05 * torch.randn_like(p))
    ref.eval()  # mmpretrain's BaseBackbone.train returns None
    return ref


def _to_timm(state):
    """mmpretrain ViT keys → timm / TransReID-SSL names, written out by
    hand (independent of the code under test)."""
    out = {}
    for key, value in state.items():
        parts = key.split('.')
        if parts[0] == 'layers':
            rest = '.'.join(parts[2:])
            rest = {
                'ln1.weight': 'norm1.weight',
                'ln1.bias': 'norm1.bias',
                'ln2.weight': 'norm2.weight',
                'ln2.bias': 'norm2.bias',
                'ffn.layers.0.0.weight': 'mlp.fc1.weight',
                'ffn.layers.0.0.bias': 'mlp.fc1.bias',
                'ffn.layers.1.weight': 'mlp.fc2.weight',
                'ffn.layers.1.bias': 'mlp.fc2.bias',
            }.get(rest, rest)  # attn.qkv.* / attn.proj.* are the same
            key = f'blocks.{parts[1]}.{rest}'
        elif parts[0] == 'ln1':
            key = 'norm.' + parts[1]
        elif key.startswith('patch_embed.projection.'):
            key = 'patch_embed.proj.' + parts[-1]
        out[key] = value
    return out


def test_registry_layout_and_shapes():
    model = _build()
    assert MultiModalViT.takes_modalities
    assert isinstance(model, MultiModalViT)
    assert list(model.patch_embeds) == ['visible', 'infrared']
    assert model.modalities == ('visible', 'infrared', 'augmented')
    assert {k.split('.')[0]
            for k in model.state_dict()} == {'vit', 'patch_embeds'}
    vis, ir = (
        dict(model.patch_embeds[n].named_parameters())
        for n in ('visible', 'infrared'))
    for name, p in vis.items():  # separate copies, equal at init
        assert p is not ir[name] and torch.equal(p, ir[name])
    x = torch.randn(3, 3, 384, 128)
    outs = model(x, ['visible', 'infrared', 'augmented'])
    assert isinstance(outs, tuple) and len(outs) == 1
    assert outs[0].shape == (3, 32, 24, 8)
    # another size: the position embeddings are resized on the fly
    assert model(torch.randn(2, 3, 64, 32))[0].shape == (2, 32, 4, 2)


def test_map_equals_library_forward():
    """One modality: exactly mmpretrain's VisionTransformer featmap."""
    ref = _reference_vit((384, 128))
    model = _build(stems=dict(visible='visible', infrared='infrared'))
    state = {
        f'vit.{k}': v
        for k, v in ref.state_dict().items() if not k.startswith('patch_')
    }
    for name in model.patch_embeds:
        for k, v in ref.patch_embed.state_dict().items():
            state[f'patch_embeds.{name}.{k}'] = v
    model.load_state_dict(state)
    x = torch.randn(2, 3, 384, 128)
    with torch.no_grad():
        torch.testing.assert_close(model(x, ['infrared'] * 2)[0], ref(x)[0])
        small = torch.randn(2, 3, 96, 48)
        torch.testing.assert_close(model(small)[0], ref(small)[0])


def test_routing_keeps_sample_order_and_separates_embeddings():
    model = _build()
    with torch.no_grad():
        model.patch_embeds['infrared'].projection.weight.mul_(-2.0)
    x = torch.randn(5, 3, 64, 32)
    mods = ['infrared', 'visible', 'augmented', 'infrared', 'visible']
    with torch.no_grad():
        mixed = model(x, mods)[0]
        for i, m in enumerate(mods):  # row i == image i through its own
            single = model(x[i:i + 1], [m])[0]
            torch.testing.assert_close(mixed[i:i + 1], single)
        # augmented shares the visible embedding, infrared does not
        torch.testing.assert_close(model(x[2:3], ['visible'])[0], mixed[2:3])
        assert not torch.allclose(model(x[0:1], ['visible'])[0], mixed[0:1])
        # changing the infrared embedding leaves visible images unchanged
        before = model(x, mods)[0]
        model.patch_embeds['infrared'].projection.bias.add_(1.0)
        after = model(x, mods)[0]
    ir = torch.tensor([m == 'infrared' for m in mods])
    torch.testing.assert_close(after[~ir], before[~ir])
    assert not torch.allclose(after[ir], before[ir])


def test_own_embedding_for_augmented():
    model = _build(stems=dict(visible='v', infrared='r', augmented='c'))
    assert list(model.patch_embeds) == ['v', 'r', 'c']
    w = [model.patch_embeds[n].projection.weight for n in ('v', 'r', 'c')]
    assert torch.equal(w[0], w[2]) and w[0] is not w[2]
    with pytest.raises(ValueError, match="unknown modality 'thermal'"):
        model(torch.randn(1, 3, 64, 32), ['thermal'])
    with pytest.raises(ValueError, match='2 entries for 1 images'):
        model(torch.randn(1, 3, 64, 32), ['visible', 'visible'])


def test_gradients_reach_only_used_embeddings():
    model = _build().train()
    x = torch.randn(4, 3, 64, 32)
    model(x, ['visible', 'augmented', 'visible', 'augmented'])[0].sum() \
        .backward()
    assert model.patch_embeds['visible'].projection.weight.grad.abs().sum() \
        > 0
    assert all(p.grad is None
               for p in model.patch_embeds['infrared'].parameters())
    assert model.vit.pos_embed.grad is not None


def test_output_cls_token():
    model = _build(output_cls_token=True)
    (fmap, cls), = model(torch.randn(2, 3, 64, 32))
    assert fmap.shape == (2, 32, 4, 2) and cls.shape == (2, 32)
    with pytest.raises(ValueError, match='class token'):
        MODELS.build(
            dict(
                type='MultiModalViT',
                vit=_vit(with_cls_token=False),
                output_cls_token=True))


def test_pretrained_224_checkpoint_resized(tmp_path):
    """An ImageNet-style 224² checkpoint (mmpretrain classifier layout)."""
    ref = _reference_vit(224)
    src = ref.state_dict()
    path = str(tmp_path / 'vit_224.pth')
    state = {f'backbone.{k}': v for k, v in src.items()}
    state['head.layers.head.weight'] = torch.zeros(10, 32)  # dropped
    torch.save(dict(state_dict=state, meta=dict()), path)
    model = _build(init_cfg=dict(type='Pretrained', checkpoint=path))
    expected = resize_pos_embed(src['pos_embed'], (14, 14), (24, 8), 'bicubic',
                                1)
    assert model.vit.pos_embed.shape == (1, 1 + 24 * 8, 32)
    torch.testing.assert_close(model.vit.pos_embed.data, expected)
    for key, value in src.items():
        if key.startswith('patch_embed.'):
            for name in ('visible', 'infrared'):
                got = model.patch_embeds[name].state_dict()[key[12:]]
                assert torch.equal(got, value)
        elif key != 'pos_embed':
            assert torch.equal(model.vit.state_dict()[key], value), key
    # the same as the library's own loading (its square-grid resize)
    lib = MODELS.build(_vit(out_type='featmap'))
    lib.load_state_dict(src)
    lib.eval()
    x = torch.randn(1, 3, 384, 128)
    with torch.no_grad():
        torch.testing.assert_close(model(x, ['infrared'])[0], lib(x)[0])


def test_transreid_ssl_checkpoint_round_trip(tmp_path):
    """A DINO-wrapped LUP checkpoint: timm keys, 16×8 grid (256×128)."""
    ref = _reference_vit((256, 128))
    timm = _to_timm(ref.state_dict())
    assert 'blocks.1.mlp.fc2.weight' in timm and 'norm.bias' in timm
    assert timm_to_mmpretrain(timm).keys() == ref.state_dict().keys()
    teacher = {f'module.backbone.{k}': v for k, v in timm.items()}
    teacher['module.head.mlp.0.weight'] = torch.zeros(8, 32)  # DINO head
    path = str(tmp_path / 'vit_small_cfs_lup.pth')
    torch.save(dict(teacher=teacher, epoch=100), path)
    model = _build(init_cfg=dict(type='Pretrained', checkpoint=path))
    x = torch.randn(2, 3, 384, 128)
    with torch.no_grad():  # ref resizes its 16x8 pos_embed on the fly
        torch.testing.assert_close(
            model(x, ['visible', 'infrared'])[0],
            ref(x)[0])


def test_transreid_ssl_ics_stem(tmp_path):
    torch.manual_seed(2)
    stem = IBNConvPatchEmbed(embed_dims=32, hidden_dims=8)
    with torch.no_grad():
        for p in stem.parameters():
            p.add_(0.1 * torch.randn_like(p))
    ref = _reference_vit((384, 128))
    timm = _to_timm(ref.state_dict())
    for key in [k for k in timm if k.startswith('patch_embed.')]:
        timm.pop(key)
    for key, value in stem.state_dict().items():
        key = key.replace('projection.', 'proj.')
        timm[f'patch_embed.{key}'] = value  # conv.1.IN.weight ...
    path = str(tmp_path / 'vit_ics.pth')
    torch.save(timm, path)
    model = _build(
        init_cfg=dict(type='Pretrained', checkpoint=path),
        patch_embed=dict(type='IBNConvPatchEmbed', hidden_dims=8))
    for name in ('visible', 'infrared'):
        for key, value in stem.state_dict().items():
            assert torch.equal(model.patch_embeds[name].state_dict()[key],
                               value), key
    assert model(torch.randn(2, 3, 384, 128))[0].shape == (2, 32, 24, 8)


def test_missing_checkpoint_names_path_and_key(tmp_path):
    path = str(tmp_path / 'nowhere' / 'vit_base_ics_cfs_lup.pth')
    with pytest.raises(FileNotFoundError) as err:
        _build(init_cfg=dict(type='Pretrained', checkpoint=path))
    assert path in str(err.value)
    assert 'model.backbone.init_cfg.checkpoint' in str(err.value)


def test_mismatched_checkpoint_names_file_and_keys(tmp_path):
    src = _reference_vit(224).state_dict()
    bad = dict(src)
    bad.pop('layers.1.ln2.bias')
    bad['layers.0.extra'] = torch.zeros(1)
    path = str(tmp_path / 'bad.pth')
    torch.save(bad, path)
    with pytest.raises(ValueError) as err:
        _build(init_cfg=dict(type='Pretrained', checkpoint=path))
    msg = str(err.value)
    assert path in msg and 'missing keys: layers.1.ln2.bias' in msg
    assert 'unexpected keys: layers.0.extra' in msg
    # strict=False accepts them (logged), keeps the loaded weights
    model = _build(
        init_cfg=dict(type='Pretrained', checkpoint=path, strict=False))
    assert torch.equal(model.vit.layers[0].ln1.weight,
                       src['layers.0.ln1.weight'])
    # another width: a shape mismatch is always an error
    wide = MODELS.build(
        dict(
            type='mmpretrain.VisionTransformer',
            arch=dict(TINY, embed_dims=16, feedforward_channels=32),
            img_size=224))
    path = str(tmp_path / 'wide.pth')
    torch.save(wide.state_dict(), path)
    with pytest.raises(ValueError, match=r'wide\.pth.*shape mismatch'):
        _build(init_cfg=dict(type='Pretrained', checkpoint=path, strict=False))


def test_config_errors(tmp_path):
    with pytest.raises(ValueError, match='not on backbone.vit'):
        MultiModalViT(
            vit=_vit(init_cfg=dict(type='Pretrained', checkpoint='x.pth')))
    with pytest.raises(ValueError, match="out_type must be 'featmap'"):
        MultiModalViT(vit=_vit(out_type='cls_token'))
    with pytest.raises(ValueError, match='optionally prefix'):
        MultiModalViT(
            vit=_vit(),
            init_cfg=dict(type='Pretrained', checkpoint='x', strcit=True))
    torch.save(dict(foo=torch.zeros(3)), str(tmp_path / 'odd.pth'))
    with pytest.raises(ValueError, match=r"odd\.pth.*layout 'unknown'"):
        _build(
            init_cfg=dict(
                type='Pretrained', checkpoint=str(tmp_path / 'odd.pth')))


def test_multi_modal_checkpoint_reloads(tmp_path):
    trained = _build(seed=3)
    with torch.no_grad():
        trained.patch_embeds['infrared'].projection.weight.add_(1.0)
    path = str(tmp_path / 'reider.pth')
    torch.save(
        dict(state_dict={
            f'backbone.{k}': v
            for k, v in trained.state_dict().items()
        }), path)
    model = _build(init_cfg=dict(type='Pretrained', checkpoint=path))
    for key, value in trained.state_dict().items():
        assert torch.equal(model.state_dict()[key], value), key


def test_reider_routes_by_data_sample_modality():
    torch.manual_seed(0)
    reider = MODELS.build(
        dict(
            type='ReIDer',
            backbone=dict(type='MultiModalViT', vit=_vit(), stems=STEMS3)))
    reider.init_weights()
    reider.eval()
    with torch.no_grad():
        reider.backbone.patch_embeds['infrared'].projection.weight.neg_()
    mods = ['infrared', 'augmented', 'visible']
    samples = [
        VIReIDDataSample().set_identity(i, 1, m) for i, m in enumerate(mods)
    ]
    x = torch.randn(3, 3, 64, 32)
    with torch.no_grad():
        feats = reider.extract(x, samples, ('global', 'map'))
        assert feats['map'].shape == (3, 32, 4, 2)
        assert feats['global'].shape == (3, 32)
        # the infrared image went through the infrared embedding
        direct = reider.backbone(x[:1], ['infrared'])[0].mean((2, 3))
        torch.testing.assert_close(feats['global'][:1], direct)
        other = reider.backbone(x[:1], ['visible'])[0].mean((2, 3))
        assert not torch.allclose(feats['global'][:1], other)
