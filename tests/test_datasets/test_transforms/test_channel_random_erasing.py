import numpy as np
import pytest

from mmvireid.datasets.transforms.channel_random_erasing import (
    DEFAULT_FILL_BGR, sample_erasing_box)
from mmvireid.registry import TRANSFORMS
from mmvireid.utils import register_all_modules

register_all_modules()

H, W = 64, 32


def _image(seed=0):
    # values in [0, 100): never equal to any fill used below
    return np.random.default_rng(seed).integers(0, 100, (H, W, 3), np.uint8)


def _changed_box(before, after):
    rows, cols = np.nonzero((before != after).any(axis=2))
    assert rows.size, 'nothing was erased'
    top, left = rows.min(), cols.min()
    return top, left, rows.max() - top + 1, cols.max() - left + 1


def test_default_fill_is_reference_fill_in_bgr():
    assert DEFAULT_FILL_BGR == (129, 144, 152)
    erase = TRANSFORMS.build(dict(type='ChannelRandomErasing'))
    assert erase.prob == 0.5 and erase.area_range == (0.02, 0.4)
    assert erase.min_aspect == 0.3 and erase.fill is None
    assert 'ChannelRandomErasing(prob=0.5' in repr(erase)


@pytest.mark.parametrize('fill, expected',
                         [(None, (129, 144, 152)), (200, (200, 200, 200)),
                          ((101, 102, 103.4), (101, 102, 103))])
def test_box_holds_fill_rest_untouched(fill, expected):
    erase = TRANSFORMS.build(
        dict(type='ChannelRandomErasing', prob=1.0, fill=fill))
    for seed in range(20):
        np.random.seed(seed)
        img = _image(seed)
        out = erase(dict(img=img.copy()))['img']
        assert out.dtype == np.uint8 and out.shape == img.shape
        top, left, h, w = _changed_box(img, out)
        box = out[top:top + h, left:left + w]
        assert (box == np.array(expected, np.uint8)).all()
        mask = np.ones((H, W), bool)
        mask[top:top + h, left:left + w] = False
        assert np.array_equal(out[mask], img[mask])
        # area and aspect within the sampled ranges (up to the rounding
        # of h and w to integers)
        assert h < H and w < W
        area = h * w / (H * W)
        assert 0.02 * 0.8 <= area <= 0.4 * 1.2
        assert 0.3 * 0.8 <= h / w <= (1 / 0.3) * 1.25


def test_does_not_modify_input():
    np.random.seed(0)
    img = _image()
    copy = img.copy()
    erase = TRANSFORMS.build(dict(type='ChannelRandomErasing', prob=1.0))
    out = erase(dict(img=img))['img']
    assert np.array_equal(img, copy) and not np.array_equal(out, img)


def test_prob_zero_is_identity_and_prob_one_always_erases():
    never = TRANSFORMS.build(dict(type='ChannelRandomErasing', prob=0.0))
    always = TRANSFORMS.build(dict(type='ChannelRandomErasing', prob=1.0))
    np.random.seed(1)
    for seed in range(50):
        img = _image(seed)
        assert np.array_equal(never(dict(img=img.copy()))['img'], img)
        assert not np.array_equal(always(dict(img=img.copy()))['img'], img)


def test_prob_half_erases_about_half():
    erase = TRANSFORMS.build(dict(type='ChannelRandomErasing', prob=0.5))
    np.random.seed(2)
    img = _image()
    erased = sum(not np.array_equal(erase(dict(img=img))['img'], img)
                 for _ in range(400))
    assert 150 < erased < 250


def test_sampled_boxes_match_ranges():
    np.random.seed(3)
    for _ in range(500):
        top, left, h, w = sample_erasing_box(288, 144, (0.02, 0.4), 0.3)
        assert 0 <= top <= 288 - h and 0 <= left <= 144 - w
        assert 0 < h < 288 and 0 < w < 144
        assert 0.02 * 0.9 <= h * w / (288 * 144) <= 0.4 * 1.1
        assert 0.3 * 0.9 <= h / w <= 1 / 0.3 * 1.1


def test_no_fitting_box_leaves_image():
    # a 1x1 image can never hold a box with h < 1
    erase = TRANSFORMS.build(dict(type='ChannelRandomErasing', prob=1.0))
    img = np.full((1, 1, 3), 7, np.uint8)
    assert np.array_equal(erase(dict(img=img))['img'], img)


def test_single_channel_and_bad_args():
    erase = TRANSFORMS.build(dict(type='ChannelRandomErasing', prob=1.0))
    np.random.seed(4)
    img = np.zeros((H, W), np.uint8)
    out = erase(dict(img=img))['img']
    assert set(np.unique(out)) == {0, 152}
    with pytest.raises(ValueError, match='channels'):
        TRANSFORMS.build(
            dict(type='ChannelRandomErasing', prob=1.0, fill=(1, 2)))(
                dict(img=_image()))
    with pytest.raises(ValueError, match='prob'):
        TRANSFORMS.build(dict(type='ChannelRandomErasing', prob=2))
    with pytest.raises(ValueError, match='area_range'):
        TRANSFORMS.build(
            dict(type='ChannelRandomErasing', area_range=(0.5, 0.1)))
    with pytest.raises(ValueError, match='min_aspect'):
        TRANSFORMS.build(dict(type='ChannelRandomErasing', min_aspect=0))
