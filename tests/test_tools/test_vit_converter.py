"""Tests for ``tools/model_converters/transreid_vit_to_mmvireid.py``."""
import importlib.util
import os.path as osp
import uuid

import pytest
import torch

from mmvireid.registry import MODELS

REPO_ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
TOOL = osp.join(REPO_ROOT, 'tools', 'model_converters',
                'transreid_vit_to_mmvireid.py')
TINY = dict(embed_dims=32, num_layers=2, num_heads=2, feedforward_channels=64)


def _load_tool():
    spec = importlib.util.spec_from_file_location(
        f'transreid_vit_under_test_{uuid.uuid4().hex}', TOOL)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _tiny_lup_vit():
    """A tiny mmpretrain ViT at 256×128 (LUP's 16×8 grid) and its state
    under TransReID-SSL / timm names, renamed by hand."""
    torch.manual_seed(0)
    vit = MODELS.build(
        dict(
            type='mmpretrain.VisionTransformer',
            arch=TINY,
            img_size=(256, 128),
            out_type='featmap'))
    names = {
        'ln1': 'norm1',
        'ln2': 'norm2',
        'ffn.layers.0.0': 'mlp.fc1',
        'ffn.layers.1': 'mlp.fc2'
    }
    timm = {}
    for key, value in vit.state_dict().items():
        if key.startswith('layers.'):
            _, i, rest = key.split('.', 2)
            module, param = rest.rsplit('.', 1)
            key = f'blocks.{i}.{names.get(module, module)}.{param}'
        key = key.replace('patch_embed.projection.', 'patch_embed.proj.')
        key = 'norm.' + key[4:] if key.startswith('ln1.') else key
        timm[key] = value
    return vit, timm


def test_convert_dino_teacher_file(tmp_path):
    tool = _load_tool()
    vit, timm = _tiny_lup_vit()
    src = str(tmp_path / 'vit_base_cfs_lup.pth')
    teacher = {f'module.backbone.{k}': v for k, v in timm.items()}
    teacher['module.head.last_layer.weight'] = torch.zeros(4, 32)
    torch.save(dict(teacher=teacher), src)
    out = str(tmp_path / 'converted' / 'lup.pth')
    tool.main([src, out])
    saved = torch.load(out, weights_only=True)
    assert saved['meta']['pos_embed_grid'] == [16, 8]
    assert saved['meta']['ics'] is False
    state = saved['state_dict']
    assert state.keys() == vit.state_dict().keys()
    for key, value in vit.state_dict().items():
        assert torch.equal(state[key], value), key
    # and it loads strictly into a 384×128 MultiModalViT
    model = MODELS.build(
        dict(
            type='MultiModalViT',
            vit=dict(
                type='mmpretrain.VisionTransformer',
                arch=TINY,
                img_size=(384, 128)),
            init_cfg=dict(type='Pretrained', checkpoint=out)))
    model.init_weights()
    assert model.vit.pos_embed.shape == (1, 1 + 24 * 8, 32)
    assert torch.equal(model.vit.layers[1].ffn.layers[1].weight,
                       timm['blocks.1.mlp.fc2.weight'])


def test_explicit_grid_and_wrong_layout(tmp_path):
    tool = _load_tool()
    vit, timm = _tiny_lup_vit()
    src = str(tmp_path / 'plain.pth')
    torch.save(timm, src)
    meta = tool.convert_file(src, str(tmp_path / 'o.pth'), [8, 16])
    assert meta['pos_embed_grid'] == [8, 16]
    mm = str(tmp_path / 'mmpretrain.pth')
    torch.save(vit.state_dict(), mm)
    with pytest.raises(ValueError, match=r"mmpretrain\.pth.*'mmpretrain'"):
        tool.convert_file(mm, str(tmp_path / 'o2.pth'))
    assert not osp.exists(str(tmp_path / 'o2.pth'))
