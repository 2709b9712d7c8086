import pytest
import torch

from mmvireid.registry import MODELS
from mmvireid.structures import VIReIDDataSample
from mmvireid.utils import register_all_modules

register_all_modules()

TINY_BACKBONE = dict(
    type='mmpretrain.ResNet',
    depth=18,
    stem_channels=8,
    base_channels=8,
    out_indices=(3, ))


def build(**kwargs):
    torch.manual_seed(0)
    model = MODELS.build(dict(type='ReIDer', backbone=TINY_BACKBONE, **kwargs))
    return model.eval()


def test_predict_averages_with_mirror_image():
    model = build(neck=dict(type='mmpretrain.GeneralizedMeanPooling'))
    images = torch.rand(3, 3, 32, 16)
    samples = model.predict(images, [VIReIDDataSample() for _ in range(3)])
    with torch.no_grad():
        want = (model.extract_feat(images) +
                model.extract_feat(images.flip(3))) / 2
    got = torch.stack([s.pred_feature for s in samples])
    assert got.shape == (3, 64)
    torch.testing.assert_close(got, want)
    # without flip: the plain feature, which differs from the average
    plain = build(neck=dict(type='mmpretrain.GeneralizedMeanPooling'),
                  test_cfg=dict(flip=False))
    no_flip = torch.stack([s.pred_feature for s in plain.predict(images)])
    torch.testing.assert_close(no_flip, plain.extract_feat(images))
    assert not torch.allclose(no_flip, got)


def test_without_neck_pools_the_map():
    model = build()
    feats = model(torch.rand(2, 3, 32, 16), mode='tensor')
    assert feats.shape == (2, 64)


def test_data_preprocessor_normalises_bgr_input():
    model = build()
    batch = dict(
        inputs=[torch.full((3, 4, 2), 255, dtype=torch.uint8)],
        data_samples=[VIReIDDataSample()])
    out = model.data_preprocessor(batch)
    # channel 0 after BGR->RGB is R: (255 - 123.675) / 58.395
    assert out['inputs'][0, 0, 0, 0].item() == pytest.approx(
        (255 - 123.675) / 58.395, rel=1e-5)


def test_loss_needs_a_head_and_modes_are_checked():
    model = build()
    with pytest.raises(ValueError, match='no head'):
        model(torch.rand(1, 3, 32, 16), [VIReIDDataSample()], mode='loss')
    with pytest.raises(ValueError, match="'train'"):
        model(torch.rand(1, 3, 32, 16), mode='train')
