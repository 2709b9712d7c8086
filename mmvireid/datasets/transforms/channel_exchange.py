"""Random channel exchange (CAJ/AGW ``ChannelExchange``)."""
import numpy as np
from mmcv.transforms import BaseTransform

from mmvireid.registry import TRANSFORMS
from .channel_adap_gray import (BGR_INDEX_OF_RGB, bgr_to_gray3,
                                check_three_channels, replicate_channel)


@TRANSFORMS.register_module()
class ChannelExchange(BaseTransform):
    """Replace the image by one random colour channel (or grayscale).

    Follows ``ChannelExchange`` in ``PAMI23_Unsupervised/ChannelAug.py`` of
    mangye16/Cross-Modal-Re-ID-baseline, SALCR's channel-augmented (CA)
    view of visible images: ``idx = randint(0, gray)`` (inclusive, uniform)
    and

    - ``idx`` 0, 1, 2: the R, G or B channel is copied to all three;
    - ``idx`` > 2 (only when ``gray`` > 2): grayscale
      ``0.2989 R + 0.5870 G + 0.1140 B`` in all three channels.

    With the default ``gray=2`` each of R, G, B is chosen with probability
    1/3 and the transform always changes a colour image; ``gray=3`` adds
    grayscale with probability 1/4, and so on. ``gray`` 0 or 1 restricts
    the choice to R, or R and G, as in the reference.

    Translation from the reference (normalised RGB CHW tensor) to this
    pipeline's raw uint8 BGR HWC image, as for
    :class:`~mmvireid.datasets.transforms.ChannelAdapGray`: channels are
    addressed by colour (R, G, B = BGR indices 2, 1, 0, gray weights in BGR
    order); the copy is of raw values, so the three raw channels end up
    equal like an infrared image's; grayscale is rounded and clipped for
    integer images; numpy's global RNG replaces Python's ``random``
    (``randint(0, gray)`` becomes ``np.random.randint(gray + 1)``); the
    input array is not modified.

    Required keys: ``img`` (HxWx3, BGR). Modified keys: ``img``.

    Args:
        gray (int): The largest branch index; indices above 2 select
            grayscale. Defaults to 2 (R, G or B only).
    """

    def __init__(self, gray: int = 2):
        if isinstance(gray, bool) or not isinstance(gray, (int, np.integer)) \
                or gray < 0:
            raise ValueError(f'gray must be an int >= 0, got {gray!r}')
        self.gray = int(gray)

    def transform(self, results: dict) -> dict:
        """Replace ``results['img']`` by a channel copy or grayscale."""
        img = results['img']
        check_three_channels(img, self.__class__.__name__)
        idx = np.random.randint(self.gray + 1)
        if idx < 3:
            results['img'] = replicate_channel(img, BGR_INDEX_OF_RGB[idx])
        else:
            results['img'] = bgr_to_gray3(img)
        return results

    def __repr__(self) -> str:
        return f'{self.__class__.__name__}(gray={self.gray})'
