import mmcv
import numpy as np
import pytest

from mmvireid.datasets.transforms import shift_hue
from mmvireid.registry import TRANSFORMS
from mmvireid.utils import register_all_modules

register_all_modules()


def _image():
    return np.random.default_rng(0).integers(0, 256, (8, 6, 3), np.uint8)


@pytest.mark.parametrize('backend', ['pillow', 'cv2'])
def test_positive_shift_equals_mmcv(backend):
    img = _image()
    for factor in (0.0, 0.1, 0.37, 0.5):
        np.testing.assert_array_equal(
            shift_hue(img, factor, backend),
            mmcv.adjust_hue(img, factor, backend=backend))


@pytest.mark.parametrize('backend', ['pillow', 'cv2'])
def test_negative_shift_turns_red_to_blue(backend):
    """A third of a turn backwards: red (hue 0) -> blue (hue 240 deg).
    mmcv's adjust_hue raises OverflowError here under numpy 2."""
    red = np.zeros((2, 2, 3), np.uint8)
    red[..., 2] = 255  # BGR
    out = shift_hue(red, -1 / 3, backend)
    assert (out[..., 0] == 255).all()  # blue
    assert (out[..., 1:] <= 8).all()
    # and a third of a turn forwards gives green
    out = shift_hue(red, 1 / 3, backend)
    assert (out[..., 1] >= 250).all() and (out[..., [0, 2]] <= 8).all()


def test_rejects_factor_out_of_range():
    with pytest.raises(ValueError, match='1.5'):
        shift_hue(_image(), 1.5)


def test_reference_jitter_runs_for_every_draw():
    """SALCR's ColorJitter(0.5, 0.5, 0.5, 0.5): negative hue draws do not
    crash, and the image changes."""
    jitter = TRANSFORMS.build(
        dict(
            type='ColorJitter',
            brightness=0.5,
            contrast=0.5,
            saturation=0.5,
            hue=0.5))
    np.random.seed(0)
    img = _image()
    changed = 0
    for _ in range(40):
        out = jitter(dict(img=img.copy()))['img']
        assert out.shape == img.shape and out.dtype == np.uint8
        changed += not np.array_equal(out, img)
    assert changed == 40
