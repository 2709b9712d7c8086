import torch

from mmvireid.registry import MODELS
from mmvireid.structures import VIReIDDataSample
from mmvireid.utils import register_all_modules

register_all_modules()


def sample(pid, modality):
    return VIReIDDataSample().set_identity(pid, 1, modality)


def test_flattens_views_and_tags_samples():
    pre = MODELS.build(
        dict(type='VIReIDDataPreprocessor', mean=[0, 0, 0], std=[1, 1, 1]))
    a0, a1, b0 = (
        torch.full((3, 2, 2), v, dtype=torch.uint8) for v in (1, 2, 3))
    out = pre(
        dict(
            inputs=[[a0, a1], b0],
            data_samples=[sample(5, 'visible'),
                          sample(6, 'infrared')]))
    assert out['inputs'].shape == (3, 3, 2, 2)
    assert out['inputs'][:, 0, 0, 0].tolist() == [1.0, 3.0, 2.0]
    samples = out['data_samples']
    assert [s.pid for s in samples] == [5, 6, 5]
    assert [s.view for s in samples] == [0, 0, 1]
    assert samples[2] is not samples[0]


def test_single_view_batch_is_unchanged():
    pre = MODELS.build(
        dict(type='VIReIDDataPreprocessor', mean=[1, 1, 1], std=[2, 2, 2]))
    imgs = [torch.full((3, 2, 2), v, dtype=torch.uint8) for v in (3, 5)]
    out = pre(
        dict(
            inputs=imgs,
            data_samples=[sample(1, 'visible'),
                          sample(2, 'visible')]))
    assert out['inputs'][:, 0, 0, 0].tolist() == [1.0, 2.0]
    assert [s.view for s in out['data_samples']] == [0, 0]


def test_stacked_batch_equals_the_per_image_path():
    """Same-size images are stacked before the copy and normalisation; the
    values are those of mmengine's per-image path, bit for bit."""
    from mmengine.model import ImgDataPreprocessor
    cfg = dict(
        type='VIReIDDataPreprocessor',
        mean=[123.675, 116.28, 103.53],
        std=[58.395, 57.12, 57.375],
        bgr_to_rgb=True)
    pre = MODELS.build(cfg)
    gen = torch.Generator().manual_seed(0)
    imgs = [
        torch.randint(0, 256, (3, 8, 4), dtype=torch.uint8, generator=gen)
        for _ in range(5)
    ]
    out = pre(dict(inputs=[[imgs[0], imgs[1]], imgs[2], [imgs[3], imgs[4]]]))
    order = [imgs[0], imgs[2], imgs[3], imgs[1], imgs[4]]
    per_image = ImgDataPreprocessor(
        mean=cfg['mean'], std=cfg['std'], bgr_to_rgb=True)(
            dict(inputs=order))
    assert torch.equal(out['inputs'], per_image['inputs'])
    # images of different sizes still go the per-image way (padded)
    mixed = pre(dict(inputs=[imgs[0], imgs[1][:, :6]]))
    assert mixed['inputs'].shape == (2, 3, 8, 4)
