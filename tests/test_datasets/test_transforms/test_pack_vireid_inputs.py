import numpy as np
import pytest
import torch

from mmvireid.registry import TRANSFORMS
from mmvireid.utils import register_all_modules

register_all_modules()


def test_pack_sets_identity_and_meta():
    pack = TRANSFORMS.build(dict(type='PackVIReIDInputs'))
    img = np.arange(4 * 2 * 3, dtype=np.uint8).reshape(4, 2, 3)
    out = pack(
        dict(
            img=img,
            pid=7,
            camid=3,
            modality='infrared',
            role='query',
            pseudo_label=-1,
            img_path='a/b.jpg',
            sample_idx=11))
    assert torch.equal(out['inputs'], torch.from_numpy(img).permute(2, 0, 1))
    sample = out['data_samples']
    assert sample.pid == 7 and sample.camid == 3 and sample.is_infrared
    assert sample.pseudo_label == -1 and sample.img_path == 'a/b.jpg'
    assert sample.sample_idx == 11 and sample.role == 'query'


def test_pack_rejects_bad_modality():
    pack = TRANSFORMS.build(dict(type='PackVIReIDInputs'))
    for bad in ('', None, 3):
        with pytest.raises(ValueError, match='modality must be a non-empty'):
            pack(
                dict(
                    img=np.zeros((2, 2, 3), np.uint8),
                    pid=1,
                    camid=1,
                    modality=bad))
    # a virtual modality (declared by a dataset wrapper) is a name too
    out = pack(
        dict(
            img=np.zeros((2, 2, 3), np.uint8),
            pid=1,
            camid=1,
            modality='augmented'))
    assert out['data_samples'].modality == 'augmented'


def test_pack_writes_the_batch_ids():
    results = dict(
        img=np.zeros((2, 2, 3), np.uint8),
        pid=1,
        camid=1,
        modality='visible',
        sample_idx=4)
    pack = TRANSFORMS.build(dict(type='PackVIReIDInputs'))
    # a plain index: no ids
    sample = pack(dict(results))['data_samples']
    assert 'group_id' not in sample and 'pair_id' not in sample
    # ids of a drawn index, as ints, even with meta_keys that omit them
    for meta_keys in (None, ('img_path', )):
        cfg = dict(type='PackVIReIDInputs')
        if meta_keys is not None:
            cfg['meta_keys'] = meta_keys
        out = TRANSFORMS.build(cfg)(
            dict(results, group_id=np.int64(3), pair_id=-1))
        meta = out['data_samples'].metainfo
        assert meta['group_id'] == 3 and meta['pair_id'] == -1
        assert type(meta['group_id']) is int
    # several views (mmpretrain.MultiView): one data sample, the ids once
    out = pack(dict(results, img=[results['img']] * 2, group_id=0, pair_id=6))
    assert len(out['inputs']) == 2 and out['data_samples'].pair_id == 6
