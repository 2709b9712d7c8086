"""Channel-adaptive grayscale augmentation (CAJ/AGW ``ChannelAdapGray``)."""
import numpy as np
from mmcv.transforms import BaseTransform

from mmvireid.registry import TRANSFORMS

#: Index of the R, G and B channel in a BGR image, in the reference's
#: branch order (its ``idx`` 0, 1, 2 select the tensor's R, G, B channel).
BGR_INDEX_OF_RGB = (2, 1, 0)
#: The reference's grayscale weights for R, G, B (ITU-R BT.601).
GRAY_WEIGHTS_RGB = (0.2989, 0.5870, 0.1140)
#: The same weights in BGR channel order.
GRAY_WEIGHTS_BGR = GRAY_WEIGHTS_RGB[::-1]


def check_three_channels(img: np.ndarray, name: str) -> None:
    """Raise a ValueError unless ``img`` is an HxWx3 (BGR) image."""
    if img.ndim != 3 or img.shape[2] != 3:
        raise ValueError(f'{name} needs an HxWx3 BGR image, got an array of '
                         f'shape {img.shape}')


def replicate_channel(img: np.ndarray, channel: int) -> np.ndarray:
    """Return a copy of ``img`` with every channel equal to ``channel``.

    Args:
        img (np.ndarray): An HxWxC image.
        channel (int): The channel index (in the image's own order) to copy.

    Returns:
        np.ndarray: A new HxWxC array of the same dtype.
    """
    return np.repeat(img[..., channel:channel + 1], img.shape[2], axis=2)


def bgr_to_gray3(img: np.ndarray) -> np.ndarray:
    """Grayscale ``0.2989 R + 0.5870 G + 0.1140 B`` in all three channels.

    Args:
        img (np.ndarray): An HxWx3 BGR image.

    Returns:
        np.ndarray: A new HxWx3 array of the same dtype; integer images are
        rounded to the nearest value and clipped to the dtype's range.
    """
    gray = img.astype(np.float32) @ np.asarray(GRAY_WEIGHTS_BGR, np.float32)
    if np.issubdtype(img.dtype, np.integer):
        info = np.iinfo(img.dtype)
        gray = np.clip(np.rint(gray), info.min, info.max)
    gray = gray.astype(img.dtype)
    return np.repeat(gray[..., None], 3, axis=2)


@TRANSFORMS.register_module()
class ChannelAdapGray(BaseTransform):
    """Replace the image by one colour channel or, sometimes, by grayscale.

    Follows ``ChannelAdapGray`` in ``ChannelAug.py`` of
    mangye16/Cross-Modal-Re-ID-baseline (CAJ, ICCV 2021; also used by
    SALCR for the infrared view). In the reference the outer
    ``if random.uniform(0, 1) > self.probability: return img`` is commented
    out, so the transform always runs: ``idx = randint(0, 3)`` (inclusive,
    each 1/4) and

    - ``idx`` 0, 1, 2: the R, G or B channel is copied to all three;
    - ``idx`` 3: with probability ``prob`` the image becomes grayscale
      ``0.2989 R + 0.5870 G + 0.1140 B`` in all three channels, otherwise it
      is left unchanged.

    Hence P(R) = P(G) = P(B) = 1/4, P(gray) = prob / 4 and P(unchanged) =
    (1 - prob) / 4. ``prob`` only gates the grayscale branch.

    Translation from the reference (normalised RGB CHW tensor) to this
    pipeline's raw uint8 BGR HWC image:

    - Channels are addressed by colour, not position: R, G, B are BGR
      indices 2, 1, 0 and the gray weights are applied in BGR order.
    - The copy / grayscale is done on raw values, before normalisation.
      The result is an image whose three raw channels are equal, exactly
      like the 3-channel infrared images of SYSU-MM01 / RegDB, which the
      augmentation imitates. (In the reference the normalised channels are
      equal instead; after our per-channel normalisation they differ by the
      per-channel mean/std, just as a real infrared image's do.)
    - Grayscale values are rounded to the nearest integer and clipped for
      integer images (the reference keeps floats).
    - numpy's global RNG replaces Python's ``random``; ``randint(0, 3)``
      becomes ``np.random.randint(4)`` and the grayscale branch is taken
      when ``np.random.rand() < prob``.
    - The input array is not modified; a new array is returned.

    Required keys: ``img`` (HxWx3, BGR). Modified keys: ``img``.

    Args:
        prob (float): Probability of grayscale in the fourth branch.
            Defaults to 0.5.
    """

    def __init__(self, prob: float = 0.5):
        if not 0 <= prob <= 1:
            raise ValueError(f'prob must be in [0, 1], got {prob!r}')
        self.prob = prob

    def transform(self, results: dict) -> dict:
        """Apply one of the four branches to ``results['img']``."""
        img = results['img']
        check_three_channels(img, self.__class__.__name__)
        idx = np.random.randint(4)
        if idx < 3:
            results['img'] = replicate_channel(img, BGR_INDEX_OF_RGB[idx])
        elif np.random.rand() < self.prob:
            results['img'] = bgr_to_gray3(img)
        return results

    def __repr__(self) -> str:
        return f'{self.__class__.__name__}(prob={self.prob})'
