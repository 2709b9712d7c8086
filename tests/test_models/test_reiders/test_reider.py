import pytest
import torch

from mmvireid.registry import MODELS
from mmvireid.structures import VIReIDDataSample
from mmvireid.utils import register_all_modules
from tiny_models import TINY_BACKBONE

register_all_modules()


def build(**kwargs):
    torch.manual_seed(0)
    model = MODELS.build(dict(type='ReIDer', backbone=TINY_BACKBONE, **kwargs))
    return model.eval()


def test_predict_averages_with_mirror_image():
    model = build(neck=dict(type='mmpretrain.GeneralizedMeanPooling'))
    images = torch.rand(3, 3, 32, 16)
    samples = model.predict(images, [VIReIDDataSample() for _ in range(3)])
    with torch.no_grad():
        want = (model.extract_feat(images) +
                model.extract_feat(images.flip(3))) / 2
    got = torch.stack([s.pred_feature for s in samples])
    assert got.shape == (3, 64)
    torch.testing.assert_close(got, want)
    # without flip: the plain feature, which differs from the average
    plain = build(
        neck=dict(type='mmpretrain.GeneralizedMeanPooling'),
        test_cfg=dict(flip=False))
    no_flip = torch.stack([s.pred_feature for s in plain.predict(images)])
    torch.testing.assert_close(no_flip, plain.extract_feat(images))
    assert not torch.allclose(no_flip, got)


def test_without_neck_pools_the_map():
    model = build()
    feats = model(torch.rand(2, 3, 32, 16), mode='tensor')
    assert feats.shape == (2, 64)


def test_data_preprocessor_normalises_bgr_input():
    model = build()
    batch = dict(
        inputs=[torch.full((3, 4, 2), 255, dtype=torch.uint8)],
        data_samples=[VIReIDDataSample()])
    out = model.data_preprocessor(batch)
    # channel 0 after BGR->RGB is R: (255 - 123.675) / 58.395
    assert out['inputs'][0, 0, 0, 0].item() == pytest.approx(
        (255 - 123.675) / 58.395, rel=1e-5)


def test_loss_needs_a_head_and_modes_are_checked():
    model = build()
    with pytest.raises(ValueError, match='no head'):
        model(torch.rand(1, 3, 32, 16), [VIReIDDataSample()], mode='loss')
    with pytest.raises(ValueError, match="'train'"):
        model(torch.rand(1, 3, 32, 16), mode='train')


TWO_STREAM = dict(type='TwoStreamBackbone', backbone=TINY_BACKBONE)


def two_stream(**kwargs):
    """A ReIDer on a two-stream backbone whose stems differ."""
    torch.manual_seed(0)
    model = MODELS.build(dict(type='ReIDer', backbone=TWO_STREAM, **kwargs))
    g = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for p in model.backbone.stems['infrared'].parameters():
            p.mul_(1 + 0.2 * torch.randn(p.shape, generator=g))
    return model.eval()


def samples_of(modalities):
    return [
        VIReIDDataSample().set_identity(0, 1, m, 'query') for m in modalities
    ]


def test_tensor_mode_routes_each_image_through_its_stem():
    """Defect 5: ``mode='tensor'`` used to drop the data samples, so every
    image went through the visible stem."""
    model = two_stream()
    images = torch.rand(4, 3, 32, 16)
    names = ['visible', 'infrared', 'infrared', 'visible']
    ir = torch.tensor([n == 'infrared' for n in names])
    with torch.no_grad():
        feats = model(images, samples_of(names), mode='tensor')
        via_ir = model.pool(
            model.backbone(images, modalities=['infrared'] * 4)[-1])
        via_vis = model.pool(
            model.backbone(images, modalities=['visible'] * 4)[-1])
    assert feats.shape == (4, 64)
    torch.testing.assert_close(feats[ir], via_ir[ir])
    torch.testing.assert_close(feats[~ir], via_vis[~ir])
    assert not torch.allclose(feats[ir], via_vis[ir])
    # predict and loss-mode extraction go through the same routing
    with torch.no_grad():
        pred = model.predict(images, samples_of(names))
        plain = two_stream(test_cfg=dict(flip=False))
        plain_pred = plain.predict(images, samples_of(names))
    torch.testing.assert_close(
        torch.stack([s.pred_feature for s in plain_pred]), feats)
    assert not torch.allclose(
        torch.stack([s.pred_feature for s in pred]), feats)  # flip mean


class _Recorder(torch.nn.Module):
    """A backbone recording the keyword arguments it was called with."""

    def __init__(self, takes_modalities):
        super().__init__()
        if takes_modalities is not None:
            self.takes_modalities = takes_modalities
        self.calls = []

    def forward(self, x, infrared=None, modalities=None):
        self.calls.append(dict(infrared=infrared, modalities=modalities))
        return (x.mean(1, keepdim=True), )


@pytest.mark.parametrize('takes', [None, False, True])
def test_modalities_follow_the_declared_capability(takes):
    model = build()
    model.backbone = _Recorder(takes)
    names = ['infrared', 'visible']
    model(torch.rand(2, 3, 8, 4), samples_of(names), mode='tensor')
    model(torch.rand(2, 3, 8, 4), mode='tensor')
    # No signature sniffing: only the declared capability counts, and the
    # backbone gets the names the data samples carry.
    assert model.backbone.calls == [
        dict(infrared=None, modalities=names if takes else None),
        dict(infrared=None, modalities=None)
    ]


def test_routing_needs_a_modality_per_sample():
    model = two_stream()
    with pytest.raises(ValueError, match='data sample 1 has no modality'):
        model(
            torch.rand(2, 3, 32, 16),
            samples_of(['visible']) + [VIReIDDataSample()],
            mode='tensor')
    with pytest.raises(ValueError, match="unknown modality 'augmented'"):
        model(
            torch.rand(1, 3, 32, 16),
            [VIReIDDataSample(metainfo=dict(modality='augmented'))],
            mode='tensor')


class RecordingHead(torch.nn.Module):
    """A head that provides a feature, reads two and records the schedule
    calls it gets as a ScheduleAware / PseudoLabelConsumer."""

    required_features = ('global', 'map')
    provided_features = ('double', )
    label_features = ('double', )

    def __init__(self):
        super().__init__()
        self.calls = []
        self.seen = None

    def provide_feature(self, name, feats):
        return 2 * feats['global']

    def loss(self, feats, data_samples):
        self.seen = (sorted(feats), [(s.pseudo_label, s.cross_label)
                                     for s in data_samples])
        return dict(loss=feats['global'].sum() * 0)


def with_recording_head():
    from mmvireid.models.utils import ScheduleAware
    from mmvireid.structures import PseudoLabelConsumer

    class Head(RecordingHead, ScheduleAware, PseudoLabelConsumer):

        def switch_stage(self, stage):
            self.calls.append(('stage', stage))
            return stage == 'cross'

        def set_progress(self, epoch, max_epochs):
            self.calls.append(('progress', epoch, max_epochs))

        def set_pseudo_labels(self, pl):
            self.calls.append(('labels', pl.num_samples))

    model = build(neck=dict(type='mmpretrain.GeneralizedMeanPooling'))
    model.head = Head()
    return model


def test_extract_returns_the_named_features_in_one_pass():
    model = with_recording_head()
    images = torch.rand(2, 3, 32, 16)
    feats = model.extract(images, names=('global', 'map', 'double'))
    assert list(feats) == ['global', 'map', 'double']
    assert feats['map'].shape == (2, 64, 1, 1)
    torch.testing.assert_close(feats['global'], model.extract_feat(images))
    torch.testing.assert_close(feats['double'], 2 * feats['global'])
    assert list(model.extract(images)) == ['global']
    assert model.provided_features == ('global', 'map', 'double')
    # the label pipeline extracts 'global' and what the head declares
    assert model.label_features == ('global', 'double')
    with pytest.raises(KeyError, match="no feature \\['parts'\\]"):
        model.extract(images, names=('parts', ))
    # predict / extract_step: flip-averaged named features in the samples
    samples = model.predict(images, None, ('global', 'double'))
    torch.testing.assert_close(samples[0].pred_double_feature,
                               2 * samples[0].pred_feature)
    data = dict(
        inputs=list((images * 255).byte()),
        data_samples=[VIReIDDataSample() for _ in range(2)])
    out = model.extract_step(data, ('global', 'double'))
    assert {'pred_feature', 'pred_double_feature'} <= set(out[0].keys())


def test_loss_writes_the_labels_into_the_samples_and_feeds_the_head():
    from mmvireid.structures import PseudoLabels, pair_key
    model = with_recording_head()
    pl = PseudoLabels(
        modalities=('visible', 'infrared'),
        modality_ids=torch.tensor([0, 0, 1]),
        labels=torch.tensor([0, -1, 0]),
        cross_labels={
            pair_key('infrared', 'visible'): torch.tensor([-1, -1, 0]),
            pair_key('visible', 'infrared'): torch.tensor([0, -1, -1])
        })
    model.set_pseudo_labels(pl)
    assert model.head.calls == [('labels', 3)]
    batch = [
        VIReIDDataSample(metainfo=dict(sample_idx=i)).set_identity(0, 1, m)
        for i, m in ((2, 'infrared'), (1, 'visible'), (0, 'visible'))
    ]
    model.loss(torch.rand(3, 3, 32, 16), batch)
    assert model.head.seen == (['global', 'map'], [(0, 0), (-1, -1), (0, 0)])
    bad = [VIReIDDataSample(metainfo=dict(sample_idx=7))]
    with pytest.raises(ValueError, match='data sample 0 has sample_idx 7'):
        model.loss(torch.rand(1, 3, 32, 16), bad)


def test_schedule_calls_reach_every_schedule_aware_module():
    model = with_recording_head()
    assert model.switch_stage('intra') == []
    assert model.switch_stage('cross') == ['head']
    model.set_progress(3, 12)
    assert model.head.calls == [('stage', 'intra'), ('stage', 'cross'),
                                ('progress', 3, 12)]
