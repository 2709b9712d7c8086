"""Linear Transformation Generator (LTG) augmentation."""
from typing import Sequence

import numpy as np
from mmcv.transforms import BaseTransform

from mmvireid.registry import TRANSFORMS
from .channel_random_erasing import check_box_args, sample_erasing_box


@TRANSFORMS.register_module()
class LinearTransformationGenerator(BaseTransform):
    """Scale each channel of a random box by a random linear factor.

    LTG from Tan et al., "Exploring Invariant Representation for
    Visible-Infrared Person Re-Identification", 2023
    (https://arxiv.org/abs/2302.00884). The paper observes that the
    reflected intensity of one surface photographed at two wavelengths is
    related by a linear model, ``I_2 = k * I_1``, whose factor ``k``
    depends on the surface material; different factors on different
    surfaces are what makes the visible-infrared discrepancy non-linear at
    image level. LTG imitates this by applying such linear maps locally.

    Our reading, and what this class implements: with probability ``prob``
    a box is sampled exactly like Random Erasing (area ``U(sl, sh)`` of the
    image, aspect ``U(r1, 1 / r1)``, up to 100 attempts; see
    :func:`~mmvireid.datasets.transforms.channel_random_erasing.sample_erasing_box`)
    and every channel ``c`` inside it is multiplied by its own factor
    ``k_c ~ Beta(0.5, 0.5)``, i.e. each "wavelength band" gets its own
    reflectance ratio in that region. Pixels outside the box are untouched.
    No code was published for LTG itself. The same authors' later RLE
    (NeurIPS 2024, https://github.com/stone96123/RLE, ``RadicalRLE`` in
    ``random_erasing.py``) extends it with the same box sampling and
    per-channel ``Beta`` factors, but also divides each box by its
    per-channel maximum and keeps adding boxes (up to 100 attempts) until
    some accumulated factor falls below ``min_out``. Neither extension is
    part of this transform: it applies one box, as the LTG paper
    describes.

    Translation to this pipeline: the factors multiply raw intensities of
    the uint8 BGR image before normalisation, which is the linear
    reflectance model of the paper (a multiplication of *normalised* values
    would scale about the dataset mean rather than about zero intensity).
    RLE's code does the same: it runs after ``ToTensor`` (intensities in
    [0, 1]) and before ``Normalize``.
    Integer images are rounded to the nearest value and clipped to the
    dtype's range ([0, 255] for uint8; Beta factors lie in [0, 1], so the
    clip is only a guard). Float images are scaled without rounding.
    Randomness comes from numpy's global RNG, drawn in the order: apply?,
    box, then the ``C`` factors. The input array is not modified.

    Required keys: ``img`` (HxW or HxWxC). Modified keys: ``img``.

    Args:
        prob (float): Probability of applying LTG. Defaults to 0.5.
        area_range (Sequence[float]): ``(sl, sh)``, the box area as a
            fraction of the image area. Defaults to (0.02, 0.4).
        min_aspect (float): ``r1``; the aspect ratio h / w is drawn from
            ``U(r1, 1 / r1)``. Defaults to 0.3.
        beta (Sequence[float]): The ``(a, b)`` parameters of the Beta
            distribution of the factors. Defaults to (0.5, 0.5).
    """

    def __init__(self,
                 prob: float = 0.5,
                 area_range: Sequence[float] = (0.02, 0.4),
                 min_aspect: float = 0.3,
                 beta: Sequence[float] = (0.5, 0.5)):
        self.area_range = check_box_args(prob, area_range, min_aspect)
        self.prob = prob
        self.min_aspect = min_aspect
        if len(beta) != 2 or min(beta) <= 0:
            raise ValueError(
                f'beta must be two positive parameters, got {beta!r}')
        self.beta = (float(beta[0]), float(beta[1]))

    def transform(self, results: dict) -> dict:
        """Scale the channels of a random box of ``results['img']``."""
        if np.random.rand() >= self.prob:
            return results
        img = results['img']
        box = sample_erasing_box(img.shape[0], img.shape[1], self.area_range,
                                 self.min_aspect)
        if box is None:
            return results
        top, left, h, w = box
        num_channels = img.shape[2] if img.ndim == 3 else 1
        factors = np.random.beta(*self.beta, size=num_channels)
        if img.ndim == 2:
            factors = factors[0]
        region = img[top:top + h, left:left + w].astype(np.float64) * factors
        if np.issubdtype(img.dtype, np.integer):
            info = np.iinfo(img.dtype)
            region = np.clip(np.rint(region), info.min, info.max)
        img = img.copy()
        img[top:top + h, left:left + w] = region.astype(img.dtype)
        results['img'] = img
        return results

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}(prob={self.prob}, '
                f'area_range={self.area_range}, '
                f'min_aspect={self.min_aspect}, beta={self.beta})')
