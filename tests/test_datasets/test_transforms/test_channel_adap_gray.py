import numpy as np
import pytest

from mmvireid.registry import TRANSFORMS
from mmvireid.utils import register_all_modules

register_all_modules()


def _image():
    img = np.empty((8, 6, 3), np.uint8)
    img[..., 0] = 10  # B
    img[..., 1] = 100  # G
    img[..., 2] = 200  # R
    img[0, 0] = (255, 255, 255)
    return img


def _expected_gray(img):
    b, g, r = (img[..., c].astype(np.float64) for c in range(3))
    return np.rint(0.2989 * r + 0.5870 * g + 0.1140 * b).astype(np.uint8)


def _branch(out, img):
    """Which branch produced ``out``: 'R', 'G', 'B', 'gray' or 'same'."""
    if np.array_equal(out, img):
        return 'same'
    assert (out == out[..., :1]).all(), 'channels are not equal'
    for name, channel in (('B', 0), ('G', 1), ('R', 2)):
        if np.array_equal(out[..., 0], img[..., channel]):
            return name
    assert np.array_equal(out[..., 0], _expected_gray(img))
    return 'gray'


def test_build_and_repr():
    t = TRANSFORMS.build(dict(type='ChannelAdapGray'))
    assert t.prob == 0.5 and repr(t) == 'ChannelAdapGray(prob=0.5)'
    with pytest.raises(ValueError, match='prob'):
        TRANSFORMS.build(dict(type='ChannelAdapGray', prob=-0.1))


@pytest.mark.parametrize('prob, allowed', [
    (1.0, {'R', 'G', 'B', 'gray'}),
    (0.0, {'R', 'G', 'B', 'same'}),
    (0.5, {'R', 'G', 'B', 'gray', 'same'}),
])
def test_branches(prob, allowed):
    t = TRANSFORMS.build(dict(type='ChannelAdapGray', prob=prob))
    img = _image()
    np.random.seed(0)
    counts = {}
    for _ in range(400):
        out = t(dict(img=img.copy()))['img']
        assert out.dtype == np.uint8 and out.shape == img.shape
        branch = _branch(out, img)
        counts[branch] = counts.get(branch, 0) + 1
    assert set(counts) == allowed
    for name in 'RGB':  # each channel branch has probability 1/4
        assert 60 < counts[name] < 140


def test_channel_branches_use_bgr_positions():
    t = TRANSFORMS.build(dict(type='ChannelAdapGray', prob=0.0))
    img = _image()
    for seed in range(30):
        np.random.seed(seed)
        idx = np.random.randint(4)
        np.random.seed(seed)
        out = t(dict(img=img.copy()))['img']
        # reference idx 0, 1, 2 = R, G, B = BGR channel 2, 1, 0
        expected = img if idx == 3 else np.repeat(
            img[..., 2 - idx:3 - idx], 3, axis=2)
        assert np.array_equal(out, expected)


def test_gray_weights_in_bgr_order():
    t = TRANSFORMS.build(dict(type='ChannelAdapGray', prob=1.0))
    img = _image()
    for seed in range(100):
        np.random.seed(seed)
        if np.random.randint(4) == 3:
            break
    np.random.seed(seed)
    out = t(dict(img=img.copy()))['img']
    # 0.2989 * 200 + 0.5870 * 100 + 0.1140 * 10 = 119.62
    assert (out[1:, 1:] == 120).all()
    assert (out[0, 0] == 255).all()  # 0.9999 * 255 rounds to 255


def test_input_not_modified_and_needs_three_channels():
    t = TRANSFORMS.build(dict(type='ChannelAdapGray', prob=1.0))
    img = _image()
    copy = img.copy()
    np.random.seed(0)
    for _ in range(10):
        t(dict(img=img))
    assert np.array_equal(img, copy)
    with pytest.raises(ValueError, match='HxWx3'):
        t(dict(img=np.zeros((4, 4), np.uint8)))
