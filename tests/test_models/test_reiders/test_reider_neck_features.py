"""A neck's named features (PA-CBAM's channel weights) through ReIDer."""
import torch
from mmengine.model import BaseModule

from mmvireid.registry import MODELS
from mmvireid.structures import VIReIDDataSample
from mmvireid.utils import register_all_modules
from tiny_models import TINY_BACKBONE

register_all_modules()

NECK = dict(type='PACBAMNeck', in_channels=64, num_regions=2, reduction=4)


@MODELS.register_module(force=True)
class ChannelWeightProbeHead(BaseModule):
    """Reads the neck's channel weights: its loss is their mean."""

    required_features = ('global', 'channel_weights')

    def loss(self, feats, data_samples):
        assert feats['global'].shape == (len(data_samples), 64)
        return dict(loss_probe=feats['channel_weights'].mean())


def build(**kwargs):
    torch.manual_seed(0)
    return MODELS.build(
        dict(type='ReIDer', backbone=TINY_BACKBONE, neck=NECK, **kwargs))


def test_the_neck_s_features_come_from_the_same_single_pass():
    model = build().eval()
    assert {'refined_map', 'channel_weights',
            'spatial_weights'} <= set(model.provided_features)
    images = torch.rand(3, 3, 64, 32)
    calls = []
    model.neck.register_forward_hook(lambda *args: calls.append(1))
    with torch.no_grad():
        feats = model.extract(images, None, ('global', 'channel_weights'))
        assert not calls  # forward_features, not forward, ran
        want = model.neck.forward_features(model.extract_map(images))
        plain = model.extract_feat(images)
    torch.testing.assert_close(feats['global'], want['global'])
    torch.testing.assert_close(feats['channel_weights'],
                               want['channel_weights'])
    # the pooled path (neck.forward) gives the same retrieval feature
    torch.testing.assert_close(feats['global'], plain)
    assert feats['channel_weights'].shape == (3, 64)


def test_a_head_reading_channel_weights_trains_the_channel_gate():
    model = build(head=dict(type='ChannelWeightProbeHead')).train()
    images = torch.rand(4, 3, 64, 32)
    samples = [VIReIDDataSample() for _ in range(4)]
    losses = model.loss(images, samples)
    losses['loss_probe'].backward()
    gate = [p.grad for n, p in model.neck.named_parameters() if 'mlp' in n]
    assert gate and all(g is not None and g.abs().sum() > 0 for g in gate)
    # the spatial gate and the pooling get no gradient from this loss
    pooled = model.neck.pooling
    assert all(p.grad is None or p.grad.abs().sum() == 0
               for p in pooled.parameters())
