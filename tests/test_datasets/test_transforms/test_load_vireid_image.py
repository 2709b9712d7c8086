import cv2
import numpy as np
import pytest

from mmvireid.datasets.transforms import ImageLoadError, LoadVIReIDImage


def test_loads_bgr(tmp_path):
    path = str(tmp_path / 'a.png')
    img = np.random.default_rng(0).integers(0, 255, (6, 4, 3), np.uint8)
    cv2.imwrite(path, img)
    out = LoadVIReIDImage()(dict(img_path=path))
    assert np.array_equal(out['img'], img) and out['img_shape'] == (6, 4)


def test_corrupt_file(tmp_path):
    path = tmp_path / 'b.jpg'
    path.write_bytes(b'\xff\xd8 truncated')
    with pytest.raises(ImageLoadError, match='b.jpg'):
        LoadVIReIDImage()(dict(img_path=str(path)))


def test_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match='c.jpg'):
        LoadVIReIDImage()(dict(img_path=str(tmp_path / 'c.jpg')))


def test_zero_byte_file_names_its_path(tmp_path):
    """A zero-byte JPEG made OpenCV raise a bare cv2.error without a path
    (issue #10, row 8)."""
    path = tmp_path / 'empty.jpg'
    path.write_bytes(b'')
    with pytest.raises(ImageLoadError, match=r'empty\.jpg is empty \(0 bytes'):
        LoadVIReIDImage()(dict(img_path=str(path)))
