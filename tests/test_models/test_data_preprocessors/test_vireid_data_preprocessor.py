import torch

from mmvireid.registry import MODELS
from mmvireid.structures import VIReIDDataSample
from mmvireid.utils import register_all_modules

register_all_modules()


def sample(pid, modality):
    return VIReIDDataSample().set_identity(pid, 1, modality)


def test_flattens_views_and_tags_samples():
    pre = MODELS.build(dict(type='VIReIDDataPreprocessor', mean=[0, 0, 0],
                            std=[1, 1, 1]))
    a0, a1, b0 = (torch.full((3, 2, 2), v, dtype=torch.uint8)
                  for v in (1, 2, 3))
    out = pre(dict(inputs=[[a0, a1], b0],
                   data_samples=[sample(5, 'visible'), sample(6, 'infrared')]))
    assert out['inputs'].shape == (3, 3, 2, 2)
    assert out['inputs'][:, 0, 0, 0].tolist() == [1.0, 3.0, 2.0]
    samples = out['data_samples']
    assert [s.pid for s in samples] == [5, 6, 5]
    assert [s.view for s in samples] == [0, 0, 1]
    assert samples[2] is not samples[0]


def test_single_view_batch_is_unchanged():
    pre = MODELS.build(dict(type='VIReIDDataPreprocessor', mean=[1, 1, 1],
                            std=[2, 2, 2]))
    imgs = [torch.full((3, 2, 2), v, dtype=torch.uint8) for v in (3, 5)]
    out = pre(dict(inputs=imgs, data_samples=[sample(1, 'visible'),
                                              sample(2, 'visible')]))
    assert out['inputs'][:, 0, 0, 0].tolist() == [1.0, 2.0]
    assert [s.view for s in out['data_samples']] == [0, 0]
