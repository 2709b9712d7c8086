"""Random Erasing with a per-channel fill, as used by CAJ/AGW and SALCR."""
import math
from numbers import Number
from typing import Optional, Sequence, Tuple, Union

import numpy as np
from mmcv.transforms import BaseTransform

from mmvireid.registry import TRANSFORMS

# The reference (``ChannelRandomErasing`` in ``ChannelAug.py`` of
# mangye16/Cross-Modal-Re-ID-baseline) erases the *normalised* RGB tensor
# with these values. We erase the raw uint8 BGR image before the data
# preprocessor normalises it, so the equivalent raw value of channel c is
# ``(mean_c + fill_c * std_c) * 255``.
IMAGENET_MEAN_RGB = (0.485, 0.456, 0.406)
IMAGENET_STD_RGB = (0.229, 0.224, 0.225)
REFERENCE_FILL_RGB = (0.4914, 0.4822, 0.4465)
#: Raw RGB equivalent of the reference fill: about (152.4, 143.8, 129.2).
DEFAULT_FILL_RGB = tuple((mean + fill * std) * 255 for mean, fill, std in zip(
    IMAGENET_MEAN_RGB, REFERENCE_FILL_RGB, IMAGENET_STD_RGB))
#: The default fill in BGR order, rounded to uint8: (129, 144, 152).
DEFAULT_FILL_BGR = tuple(int(round(value)) for value in DEFAULT_FILL_RGB[::-1])


def check_box_args(prob: float, area_range: Sequence[float],
                   min_aspect: float) -> Tuple[float, float]:
    """Validate the arguments shared by the box-sampling transforms.

    Args:
        prob (float): Probability of applying the transform.
        area_range (Sequence[float]): ``(sl, sh)``, the box area as a
            fraction of the image area.
        min_aspect (float): ``r1``, the smallest aspect ratio (h / w).

    Returns:
        Tuple[float, float]: ``area_range`` as a tuple of floats.
    """
    if not 0 <= prob <= 1:
        raise ValueError(f'prob must be in [0, 1], got {prob!r}')
    if len(area_range) != 2 or not 0 < area_range[0] <= area_range[1] <= 1:
        raise ValueError('area_range must be (low, high) with '
                         f'0 < low <= high <= 1, got {area_range!r}')
    if not 0 < min_aspect <= 1:
        raise ValueError(f'min_aspect must be in (0, 1], got {min_aspect!r}')
    return float(area_range[0]), float(area_range[1])


def sample_erasing_box(
        height: int,
        width: int,
        area_range: Tuple[float, float] = (0.02, 0.4),
        min_aspect: float = 0.3,
        max_attempts: int = 100) -> Optional[Tuple[int, int, int, int]]:
    """Sample a box the way Random Erasing (Zhong et al.) does.

    Each attempt draws ``area = U(sl, sh) * H * W`` and ``aspect =
    U(r1, 1 / r1)``, sets ``h = round(sqrt(area * aspect))`` and ``w =
    round(sqrt(area / aspect))``, and accepts the box when ``h < H`` and
    ``w < W`` (strictly, as in the reference). The top-left corner is then
    uniform over all positions where the box fits (the reference's
    inclusive ``random.randint(0, H - h)``). Uses numpy's global RNG.

    Args:
        height (int): Image height H.
        width (int): Image width W.
        area_range (Tuple[float, float]): ``(sl, sh)``.
        min_aspect (float): ``r1``.
        max_attempts (int): Attempts before giving up. Defaults to 100.

    Returns:
        Optional[Tuple[int, int, int, int]]: ``(top, left, h, w)``, or None
        when no attempt fitted.
    """
    low, high = area_range
    for _ in range(max_attempts):
        area = np.random.uniform(low, high) * height * width
        aspect = np.random.uniform(min_aspect, 1 / min_aspect)
        h = int(round(math.sqrt(area * aspect)))
        w = int(round(math.sqrt(area / aspect)))
        if w < width and h < height:
            top = np.random.randint(0, height - h + 1)
            left = np.random.randint(0, width - w + 1)
            return int(top), int(left), h, w
    return None


@TRANSFORMS.register_module()
class ChannelRandomErasing(BaseTransform):
    """Random Erasing with a constant fill per channel.

    Random Erasing (Zhong et al., AAAI 2020,
    https://arxiv.org/abs/1708.04896) as implemented by
    ``ChannelRandomErasing`` in the CAJ/AGW ``ChannelAug.py`` used by SALCR:
    with probability ``prob``, up to 100 attempts sample a box (see
    :func:`sample_erasing_box`) and the first that fits is filled with one
    constant per channel; if none fits, the image is left unchanged.

    Translation from the reference, which works on a normalised RGB CHW
    tensor, to this pipeline's raw uint8 BGR HWC image:

    - The reference fill ``(0.4914, 0.4822, 0.4465)`` is in normalised
      units; its raw equivalent ``(mean_c + fill_c * std_c) * 255`` with the
      ImageNet mean/std is R 152.4, G 143.8, B 129.2, hence the default BGR
      fill ``(129, 144, 152)``. After normalisation it differs from the
      reference's values only by the uint8 rounding (< 0.01).
    - The reference's ``x1`` / ``y1`` index rows / columns; here they are
      ``top`` / ``left``. Python's ``random`` is replaced by numpy's global
      RNG (seeded per worker by MMEngine); ``random.randint(a, b)``
      (inclusive) becomes ``np.random.randint(a, b + 1)``.
    - The erase happens with probability exactly ``prob`` (the reference's
      ``uniform(0, 1) > p: skip`` differs only on a set of measure zero),
      so ``prob=0`` never and ``prob=1`` always erases when a box fits.
    - The input array is not modified; a copy is returned in
      ``results['img']``.

    Required keys: ``img``. Modified keys: ``img``.

    Args:
        prob (float): Probability of erasing. Defaults to 0.5.
        area_range (Sequence[float]): ``(sl, sh)``, the erased area as a
            fraction of the image area. Defaults to (0.02, 0.4).
        min_aspect (float): ``r1``; the aspect ratio h / w is drawn from
            ``U(r1, 1 / r1)``. Defaults to 0.3.
        fill (float | Sequence[float], optional): The erasing value: one
            number for every channel or one per channel in the image's
            channel order (BGR). None uses :data:`DEFAULT_FILL_BGR` for
            3-channel images and, like the reference for single-channel
            images, the first (R) reference value, 152, otherwise.
            Defaults to None.
    """

    def __init__(self,
                 prob: float = 0.5,
                 area_range: Sequence[float] = (0.02, 0.4),
                 min_aspect: float = 0.3,
                 fill: Optional[Union[float, Sequence[float]]] = None):
        self.area_range = check_box_args(prob, area_range, min_aspect)
        self.prob = prob
        self.min_aspect = min_aspect
        if fill is not None and not isinstance(fill, Number):
            fill = tuple(float(value) for value in fill)
        self.fill = fill

    def _channel_fill(self, num_channels: int) -> np.ndarray:
        """The fill for an image with ``num_channels`` channels."""
        if self.fill is None:
            fill = DEFAULT_FILL_BGR if num_channels == 3 else \
                (round(DEFAULT_FILL_RGB[0]), )
        elif isinstance(self.fill, Number):
            fill = (self.fill, )
        else:
            fill = self.fill
        if len(fill) not in (1, num_channels):
            raise ValueError(f'fill {self.fill!r} has {len(fill)} values '
                             f'but the image has {num_channels} channels')
        return np.asarray(fill, dtype=np.float64)

    def transform(self, results: dict) -> dict:
        """Erase a random box of ``results['img']`` (HxW or HxWxC)."""
        if np.random.rand() >= self.prob:
            return results
        img = results['img']
        box = sample_erasing_box(img.shape[0], img.shape[1], self.area_range,
                                 self.min_aspect)
        if box is None:
            return results
        top, left, h, w = box
        num_channels = img.shape[2] if img.ndim == 3 else 1
        fill = self._channel_fill(num_channels)
        if np.issubdtype(img.dtype, np.integer):
            info = np.iinfo(img.dtype)
            fill = np.clip(np.rint(fill), info.min, info.max)
        if img.ndim == 2:
            fill = fill[0]
        img = img.copy()
        img[top:top + h, left:left + w] = fill.astype(img.dtype)
        results['img'] = img
        return results

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}(prob={self.prob}, '
                f'area_range={self.area_range}, '
                f'min_aspect={self.min_aspect}, fill={self.fill})')
