"""Image loading with errors that name the file at fault."""
import os
from typing import Optional

import cv2
from mmcv.transforms import LoadImageFromFile

from mmvireid.registry import TRANSFORMS


class ImageLoadError(IOError):
    """An image file exists but cannot be decoded."""


@TRANSFORMS.register_module()
class LoadVIReIDImage(LoadImageFromFile):
    """mmcv's ``LoadImageFromFile`` that reports unreadable files clearly.

    mmcv raises a bare ``AssertionError`` when a file decodes to nothing (a
    truncated or corrupt JPEG, a text file with an image name) and OpenCV a
    bare ``cv2.error`` for an empty (zero-byte) file. This subclass turns
    those, and a missing file, into an :class:`ImageLoadError` or
    :class:`FileNotFoundError` naming the path and what was expected.
    All arguments are those of :class:`mmcv.transforms.LoadImageFromFile`.
    """

    def transform(self, results: dict) -> Optional[dict]:
        """Load ``results['img_path']`` into ``results['img']`` (BGR)."""
        path = results['img_path']
        try:
            return super().transform(results)
        except FileNotFoundError as error:
            raise FileNotFoundError(
                f'image file not found: {path} (listed by the dataset; was '
                'the dataset moved or partly deleted?)') from error
        except (AssertionError, cv2.error) as error:
            if os.path.isfile(path) and os.path.getsize(path) == 0:
                raise ImageLoadError(
                    f'image file {path} is empty (0 bytes): an interrupted '
                    'copy or download? Replace it or remove it from the '
                    'dataset') from error
            raise ImageLoadError(
                f'cannot decode image file {path}: it is corrupt, truncated '
                'or not an image (expected a JPEG/PNG/BMP that OpenCV can '
                'read)') from error
