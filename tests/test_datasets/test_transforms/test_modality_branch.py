import numpy as np
import pytest

from mmvireid.registry import TRANSFORMS
from mmvireid.utils import register_all_modules

register_all_modules()


def _image():
    img = np.zeros((4, 6, 3), np.uint8)
    img[..., 0], img[..., 1], img[..., 2] = 10, 20, 30
    img[:, 0] = 99
    return img


def _branch():
    return TRANSFORMS.build(
        dict(
            type='ModalityBranch',
            # visible: flip then keep only R (ChannelExchange gray=0)
            visible=[
                dict(type='mmcv.RandomFlip', prob=1.0),
                dict(type='ChannelExchange', gray=0)
            ],
            # infrared: mmpretrain resize of the short edge to 2
            infrared=[dict(type='mmpretrain.ResizeEdge', scale=2)]))


def test_dispatch_by_modality():
    branch = _branch()
    img = _image()
    vis = branch(dict(img=img.copy(), modality='visible'))
    expected = np.repeat(img[:, ::-1, 2:], 3, axis=2)
    assert np.array_equal(vis['img'], expected)
    ir = branch(dict(img=img.copy(), modality='infrared'))
    assert ir['img'].shape == (2, 3, 3)
    assert ir['modality'] == 'infrared'
    assert 'ChannelExchange(gray=0)' in repr(branch)
    assert 'ResizeEdge' in repr(branch)


def test_accepts_built_callables():
    branch = TRANSFORMS.build(
        dict(
            type='ModalityBranch',
            visible=[lambda results: dict(results, tag='v')],
            infrared=[]))
    assert branch(dict(modality='visible'))['tag'] == 'v'
    assert 'tag' not in branch(dict(modality='infrared'))


def test_unknown_or_missing_modality():
    branch = _branch()
    with pytest.raises(ValueError, match="unknown modality 'thermal'"):
        branch(dict(img=_image(), modality='thermal', img_path='x.jpg'))
    with pytest.raises(KeyError, match='modality'):
        branch(dict(img=_image()))


def test_bad_config():
    with pytest.raises(TypeError, match='visible'):
        TRANSFORMS.build(
            dict(
                type='ModalityBranch',
                visible=dict(type='ChannelExchange'),
                infrared=[]))
    with pytest.raises(KeyError):
        TRANSFORMS.build(
            dict(
                type='ModalityBranch',
                visible=[dict(type='NoSuchTransform')],
                infrared=[]))
