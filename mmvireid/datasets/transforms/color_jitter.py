"""Colour jitter with a hue shift that works under numpy 2."""
from typing import Dict

import cv2
import mmcv
import numpy as np
from mmpretrain.datasets.transforms import ColorJitter as MMPretrainJitter
from PIL import Image

from mmvireid.registry import TRANSFORMS


def shift_hue(img: np.ndarray,
              hue_factor: float,
              backend: str = 'pillow') -> np.ndarray:
    """Rotate the hue of a BGR uint8 image by ``hue_factor`` of a turn.

    What :func:`mmcv.adjust_hue` does (HSV with a 0-255 hue channel, shift
    by ``int(hue_factor * 255)`` with wrap-around), but the shift is taken
    modulo 256 in a wide integer type: mmcv builds ``np.uint8(hue_factor *
    255)``, which numpy 2 refuses for any negative factor
    (``OverflowError``), i.e. for half of all draws of a hue jitter. For
    ``hue_factor >= 0`` the result equals mmcv's.

    Args:
        img (np.ndarray): ``(H, W, 3)`` BGR image.
        hue_factor (float): Shift in ``[-0.5, 0.5]`` of a full turn.
        backend (str): ``'pillow'`` or ``'cv2'`` (their HSV conversions
            differ slightly, as in mmcv).

    Returns:
        np.ndarray: The shifted image, same dtype as ``img``.
    """
    if not -0.5 <= hue_factor <= 0.5:
        raise ValueError(f'hue_factor {hue_factor} is not in [-0.5, 0.5]')
    shift = int(hue_factor * 255) % 256
    if backend == 'pillow':
        hsv = np.array(
            Image.fromarray(np.ascontiguousarray(
                img[..., ::-1])).convert('HSV'))
        hsv[..., 0] = (hsv[..., 0].astype(np.int16) + shift) % 256
        rgb = np.array(Image.fromarray(hsv, 'HSV').convert('RGB'))
        return rgb[..., ::-1].astype(img.dtype)
    if backend == 'cv2':
        hsv = cv2.cvtColor(img.astype(np.uint8), cv2.COLOR_BGR2HSV_FULL)
        hsv[..., 0] = (hsv[..., 0].astype(np.int16) + shift) % 256
        return cv2.cvtColor(hsv, cv2.COLOR_HSV2BGR_FULL).astype(img.dtype)
    raise ValueError(f"backend must be 'pillow' or 'cv2', got {backend!r}")


@TRANSFORMS.register_module()
class ColorJitter(MMPretrainJitter):
    """``mmpretrain.ColorJitter`` whose hue jitter works under numpy 2.

    Brightness, contrast, saturation and hue are changed in a random order
    with random factors, as in torchvision's and mmpretrain's
    ``ColorJitter`` (same arguments and draws); only the hue step is
    :func:`shift_hue` instead of :func:`mmcv.adjust_hue` (see there).
    SALCR's reference jitters with ``(0.5, 0.5, 0.5, 0.5)``.

    Args:
        brightness, contrast, saturation, hue, backend: As
            ``mmpretrain.ColorJitter``.
    """

    def transform(self, results: Dict) -> Dict:
        """Jitter ``results['img']``."""
        img = results['img']
        order, brightness, contrast, saturation, hue = self._rand_params()
        for index in order:
            if index == 0 and brightness is not None:
                img = mmcv.adjust_brightness(
                    img, brightness, backend=self.backend)
            elif index == 1 and contrast is not None:
                img = mmcv.adjust_contrast(img, contrast, backend=self.backend)
            elif index == 2 and saturation is not None:
                img = mmcv.adjust_color(
                    img, alpha=saturation, backend=self.backend)
            elif index == 3 and hue is not None:
                img = shift_hue(img, hue, backend=self.backend)
        results['img'] = img
        return results
