import numpy as np
import pytest

from mmvireid.registry import TRANSFORMS
from mmvireid.utils import register_all_modules

register_all_modules()

H, W = 64, 32


def _changed_box(before, after):
    rows, cols = np.nonzero((before != after).any(axis=2))
    assert rows.size, 'nothing changed'
    top, left = rows.min(), cols.min()
    return top, left, rows.max() - top + 1, cols.max() - left + 1


def test_build_and_repr():
    t = TRANSFORMS.build(dict(type='LinearTransformationGenerator'))
    assert t.prob == 0.5 and t.beta == (0.5, 0.5)
    assert 'LinearTransformationGenerator(prob=0.5' in repr(t)
    with pytest.raises(ValueError, match='beta'):
        TRANSFORMS.build(
            dict(type='LinearTransformationGenerator', beta=(0, 1)))
    with pytest.raises(ValueError, match='prob'):
        TRANSFORMS.build(dict(type='LinearTransformationGenerator', prob=3))


def test_scales_each_channel_inside_a_box_only():
    t = TRANSFORMS.build(dict(type='LinearTransformationGenerator', prob=1))
    img = np.full((H, W, 3), 200, np.uint8)
    img[..., 1] = 250
    for seed in range(20):
        np.random.seed(seed)
        out = t(dict(img=img.copy()))['img']
        assert out.dtype == np.uint8 and out.shape == img.shape
        top, left, h, w = _changed_box(img, out)
        assert h < H and w < W
        assert 0.02 * 0.8 <= h * w / (H * W) <= 0.4 * 1.2
        mask = np.ones((H, W), bool)
        mask[top:top + h, left:left + w] = False
        assert np.array_equal(out[mask], img[mask])
        box = out[top:top + h, left:left + w].reshape(-1, 3)
        # one factor per channel: each channel is constant in the box and
        # not brighter than before
        assert (box == box[:1]).all()
        assert (box[0] <= img[0, 0]).all()


def test_factors_are_linear_per_channel():
    t = TRANSFORMS.build(dict(type='LinearTransformationGenerator', prob=1))
    img = np.random.default_rng(1).integers(0, 256, (H, W, 3), np.uint8)
    np.random.seed(5)
    out = t(dict(img=img.copy()))['img']
    top, left, h, w = _changed_box(img, out)
    before = img[top:top + h, left:left + w].astype(np.float64)
    after = out[top:top + h, left:left + w].astype(np.float64)
    for c in range(3):
        factor = after[..., c].sum() / max(before[..., c].sum(), 1)
        assert 0 <= factor <= 1
        assert np.abs(after[..., c] - before[..., c] * factor).max() <= 1


def test_matches_seeded_draws():
    # draw order: apply?, box (as in random erasing), the channel factors
    from mmvireid.datasets.transforms.channel_random_erasing import \
        sample_erasing_box
    t = TRANSFORMS.build(dict(type='LinearTransformationGenerator', prob=1))
    img = np.random.default_rng(2).integers(0, 256, (H, W, 3), np.uint8)
    np.random.seed(7)
    np.random.rand()
    top, left, h, w = sample_erasing_box(H, W, (0.02, 0.4), 0.3)
    factors = np.random.beta(0.5, 0.5, size=3)
    expected = img.copy()
    expected[top:top + h, left:left + w] = np.rint(
        img[top:top + h, left:left + w] * factors).astype(np.uint8)
    np.random.seed(7)
    assert np.array_equal(t(dict(img=img.copy()))['img'], expected)


def test_prob_zero_identity_and_input_not_modified():
    never = TRANSFORMS.build(
        dict(type='LinearTransformationGenerator', prob=0))
    always = TRANSFORMS.build(
        dict(type='LinearTransformationGenerator', prob=1))
    img = np.random.default_rng(3).integers(1, 256, (H, W, 3), np.uint8)
    copy = img.copy()
    np.random.seed(0)
    for _ in range(20):
        assert np.array_equal(never(dict(img=img))['img'], img)
        assert not np.array_equal(always(dict(img=img))['img'], img)
    assert np.array_equal(img, copy)
