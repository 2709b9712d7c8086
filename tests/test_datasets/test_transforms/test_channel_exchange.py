import numpy as np
import pytest

from mmvireid.registry import TRANSFORMS
from mmvireid.utils import register_all_modules

register_all_modules()


def _image():
    return np.random.default_rng(0).integers(0, 256, (8, 6, 3), np.uint8)


def test_default_copies_one_input_channel():
    t = TRANSFORMS.build(dict(type='ChannelExchange'))
    assert t.gray == 2 and repr(t) == 'ChannelExchange(gray=2)'
    img = _image()
    np.random.seed(0)
    counts = [0, 0, 0]
    for _ in range(300):
        out = t(dict(img=img.copy()))['img']
        assert out.dtype == np.uint8 and out.shape == img.shape
        assert (out == out[..., :1]).all()
        matches = [
            c for c in range(3) if np.array_equal(out[..., 0], img[..., c])
        ]
        assert len(matches) == 1
        counts[matches[0]] += 1
    assert all(70 < count < 130 for count in counts)


def test_index_maps_to_rgb_in_bgr_image():
    t = TRANSFORMS.build(dict(type='ChannelExchange'))
    img = _image()
    for seed in range(20):
        np.random.seed(seed)
        idx = np.random.randint(3)
        np.random.seed(seed)
        out = t(dict(img=img.copy()))['img']
        # reference idx 0, 1, 2 = R, G, B = BGR channel 2, 1, 0
        assert np.array_equal(out[..., 1], img[..., 2 - idx])


def test_gray_branch():
    t = TRANSFORMS.build(dict(type='ChannelExchange', gray=3))
    img = _image()
    b, g, r = (img[..., c].astype(np.float64) for c in range(3))
    gray = np.rint(0.2989 * r + 0.5870 * g + 0.1140 * b).astype(np.uint8)
    np.random.seed(0)
    seen_gray = 0
    for _ in range(100):
        out = t(dict(img=img.copy()))['img']
        assert (out == out[..., :1]).all()
        if not any(np.array_equal(out[..., 0], img[..., c]) for c in range(3)):
            assert np.array_equal(out[..., 0], gray)
            seen_gray += 1
    assert 10 < seen_gray < 45


def test_gray_zero_always_red_and_bad_args():
    t = TRANSFORMS.build(dict(type='ChannelExchange', gray=0))
    img = _image()
    out = t(dict(img=img))['img']
    assert np.array_equal(out, np.repeat(img[..., 2:], 3, axis=2))
    with pytest.raises(ValueError, match='gray'):
        TRANSFORMS.build(dict(type='ChannelExchange', gray=-1))
    with pytest.raises(ValueError, match='HxWx3'):
        t(dict(img=np.zeros((4, 4, 1), np.uint8)))
