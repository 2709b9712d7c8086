"""verify_images: every bad file, with its reason, exactly as loading fails."""
import glob
import os.path as osp

import pytest
from data_trees import make_sysu_tree

from mmvireid.datasets.image_verification import (format_bad_images,
                                                  verify_images)
from mmvireid.datasets.transforms import LoadVIReIDImage


def spoil(paths):
    """Zero-byte, junk and truncated copies of the first three images."""
    open(paths[0], 'wb').close()
    with open(paths[1], 'wb') as f:
        f.write(b'not a jpeg at all')
    with open(paths[2], 'rb') as f:
        data = f.read()
    with open(paths[2], 'wb') as f:
        f.write(data[:len(data) // 3])


@pytest.fixture
def images(tmp_path):
    root = make_sysu_tree(str(tmp_path / 's'), test_ids=(5, ))
    return sorted(glob.glob(osp.join(root, 'cam*', '*', '*.jpg')))


def test_every_bad_file_is_reported_with_its_reason(images):
    spoil(images)
    missing = osp.join(osp.dirname(images[0]), '0099.jpg')
    listed = images[::-1] + [missing, images[1]]  # images[1] twice
    bad = verify_images(listed, num_workers=2, progress=True)
    # all four, once each, in the order given
    assert bad == [
        (images[2], 'cannot decode (corrupt, truncated or not an image)'),
        (images[1], 'cannot decode (corrupt, truncated or not an image)'),
        (images[0], 'empty (0 bytes)'),
        (missing, 'missing'),
    ]
    text = format_bad_images(bad, limit=2)
    assert text.splitlines() == [
        f'{images[2]}: cannot decode (corrupt, truncated or not an image)',
        f'{images[1]}: cannot decode (corrupt, truncated or not an image)',
        '... and 2 more'
    ]


def test_bad_means_exactly_fails_to_load(images):
    spoil(images)
    loader = LoadVIReIDImage()
    fails = []
    for path in images:
        try:
            loader(dict(img_path=path))
        except OSError:
            fails.append(path)
    assert len(fails) == 3
    for workers in (0, 2):
        bad = verify_images(images, num_workers=workers, progress=False)
        assert [path for path, _ in bad] == fails


def test_good_images_and_the_given_loader(images):
    assert verify_images(images, num_workers=2, progress=False) == []
    assert verify_images([], progress=False) == []

    def loader(results):  # a pipeline's own loading transform is used
        if results['img_path'] == images[4]:
            raise KeyError('no such backend')
        return dict(results, img=1)

    assert verify_images(
        images, 2, False, loader=loader) == [
            (images[4], "cannot be loaded (KeyError: 'no such backend')")
        ]


@pytest.mark.parametrize('workers', [-1, 1.5, True])
def test_bad_worker_count_is_refused(images, workers):
    with pytest.raises(ValueError, match=f'num_workers.*{workers!r}'):
        verify_images(images, num_workers=workers)
