import pytest
import torch
import torch.nn.functional as F

from mmvireid.models.utils import write_labels
from mmvireid.registry import MODELS
from mmvireid.structures import (PseudoLabelConsumer, PseudoLabels,
                                 VIReIDDataSample, pair_key)
from mmvireid.utils import register_all_modules

register_all_modules()

D, C, P = 8, 4, 3
DAGL_KEYS = {
    'loss_visible', 'loss_infrared', 'loss_cross_visible',
    'loss_cross_infrared'
}


def build(part=True, instance=True):
    return MODELS.build(
        dict(
            type='SALCRHead',
            global_head=dict(
                type='DualMemoryContrastHead', feat_dim=D, cross_modal=True),
            part_head=dict(type='FGSALHead', in_channels=C, num_parts=P)
            if part else None,
            instance_head=dict(type='GPCRHead', feat_dim=D, k=3)
            if instance else None))


def result(
        labels=(0, 0, 1, 1, 2, 2, 0, 0, 1, 1, -1, 1),
        cross=(0, 0, 1, 1, 1, 1, 0, 0, 1, 1, -1, 1),
        modalities=('visible', 'infrared')):
    """Pseudo-labels after an association: the first modality 0-5, the
    second 6-11 (10 an outlier)."""
    ids = torch.tensor([0] * 6 + [1] * 6)
    cross = torch.tensor(cross)
    none = torch.full_like(cross, -1)
    m0, m1 = modalities
    return PseudoLabels(
        modalities=modalities,
        modality_ids=ids,
        labels=torch.tensor(labels),
        cross_labels={
            pair_key(m0, m1): torch.where(ids == 0, cross, none),
            pair_key(m1, m0): torch.where(ids == 1, cross, none)
        },
        features=F.normalize(torch.randn(12, D), dim=1),
        pids=torch.arange(12),
        part_features=F.normalize(torch.randn(12, P, C), dim=-1))


def clustering(pl):
    """The same pseudo-labels before the association."""
    return pl.with_fields(cross_labels={})


def hand_over(head, pl):
    """What the model does: every consumer receives ``pl``, once."""
    consumers = [
        m for m in head.modules() if isinstance(m, PseudoLabelConsumer)
    ]
    for module in consumers:
        module.set_pseudo_labels(pl)
    return consumers


def feed(feats, maps=None):
    """The features the model extracts for the head."""
    out = {'global': feats}
    if maps is not None:
        out['map'] = maps
    return out


def labelled(samples, pl):
    """The batch with the labels the model writes (ReIDer.annotate)."""
    write_labels(samples, *pl.label_table())
    return samples


def sample(idx, modality, view=0):
    return VIReIDDataSample(
        metainfo=dict(sample_idx=idx, view=view)).set_identity(0, 1, modality)


def batch(visible=(0, 2), infrared=(6, 8)):
    """Paired batch: view 0 of visible, infrared, then the CA views."""
    return [sample(i, 'visible') for i in visible] + \
        [sample(i, 'infrared') for i in infrared] + \
        [sample(i, 'visible', 1) for i in visible]


def inputs(n=6):
    return (torch.randn(n, D, requires_grad=True),
            torch.randn(n, C, 5, 3, requires_grad=True))


def test_only_dagl_before_association():
    torch.manual_seed(0)
    head = build()
    assert head.required_features == ('global', 'map')
    assert head.label_features == ('global', 'parts')
    assert build(part=False, instance=False).label_features == ('global', )
    pl = clustering(result())
    consumers = hand_over(head, pl)
    assert consumers == [
        head, head.global_head, head.part_head, head.instance_head
    ]
    feats, maps = inputs()
    losses = head.loss(feed(feats, maps), labelled(batch(), pl))
    assert set(losses) == DAGL_KEYS
    assert not head.has_associations


def test_all_terms_after_association():
    torch.manual_seed(1)
    head = build()
    res = result()
    hand_over(head, clustering(res))
    hand_over(head, res)
    feats, maps = inputs()
    losses = head.loss(feed(feats, maps), labelled(batch(), res))
    assert set(losses) == DAGL_KEYS | {
        'loss_part_visible', 'loss_part_infrared', 'loss_gpcr_global',
        'loss_gpcr_part'
    }
    assert all(torch.isfinite(v) for v in losses.values())
    assert losses['loss_part_visible'] > 0
    sum(losses.values()).backward()
    assert torch.isfinite(maps.grad).all() and torch.isfinite(feats.grad).all()
    assert maps.grad.abs().sum() > 0
    grad = head.part_head.part_prototypes.grad
    assert grad is not None and torch.isfinite(grad).all()
    with pytest.raises(ValueError, match="feats\\['map'\\]"):
        head.loss(feed(feats), labelled(batch(), res))


def test_pairs_without_a_shared_label_are_dropped():
    torch.manual_seed(2)
    head = build()
    res = result()
    hand_over(head, res)
    feats, maps = inputs()
    # visible 4 (label 2, cross 1) with infrared 6 (label 0, cross 0):
    # no shared label in either space
    losses = head.loss(
        feed(feats, maps),
        labelled(batch(visible=(4, 4), infrared=(6, 7)), res))
    # the part and instance terms are there (every rank of a distributed
    # run makes the same memory updates) but have no pair: zero
    assert DAGL_KEYS < set(losses)
    assert all(v.item() == 0 for k, v in losses.items() if k not in DAGL_KEYS)
    assert all(losses[k].item() > 0 for k in DAGL_KEYS)
    sum(losses.values()).backward()


def test_zero_clusters_in_one_modality():
    torch.manual_seed(3)
    head = build()
    res = result(
        labels=(0, 0, 1, 1, 2, 2) + (-1, ) * 6, cross=(-1, ) * 6 + (0, ) * 6)
    hand_over(head, clustering(res))
    hand_over(head, res)
    feats, maps = inputs()
    losses = head.loss(
        feed(feats, maps), labelled(batch(infrared=(6, 7)), res))
    assert all(torch.isfinite(v) for v in losses.values())
    sum(losses.values()).backward()
    assert torch.isfinite(maps.grad).all()


def test_without_part_head_gpcr_is_global_only():
    torch.manual_seed(4)
    head = build(part=False)
    res = result()
    hand_over(head, res)
    feats, _ = inputs()
    assert head.required_features == ('global', )
    losses = head.loss(feed(feats), labelled(batch(), res))
    assert set(losses) == DAGL_KEYS | {'loss_gpcr_global'}
    assert head.provided_features == ()
    with pytest.raises(KeyError, match='parts'):
        head.provide_feature('parts', {'map': torch.randn(1, C, 5, 3)})


def test_part_features_are_provided():
    torch.manual_seed(5)
    head = build(instance=False)
    assert head.provided_features == ('parts', )
    feat_map = torch.randn(2, C, 6, 3)
    parts = head.provide_feature('parts', {'map': feat_map})
    assert parts.shape == (2, P, C)
    torch.testing.assert_close(parts, head.part_head.part_features(feat_map))


def test_the_head_does_not_forward_and_needs_two_modalities():
    torch.manual_seed(6)
    head = build()
    with pytest.raises(ValueError, match='no pseudo-labels'):
        head.loss(feed(inputs()[0]), batch())
    head.set_pseudo_labels(result())
    assert head.has_associations and head.modalities == ('visible', 'infrared')
    # the sub-heads are consumers of their own: nothing reached them
    for sub in (head.global_head, head.part_head, head.instance_head):
        assert sub.modalities is None
    assert head.part_head.memory(0, 0).num_clusters == 0
    pl = result()
    three = PseudoLabels(
        modalities=('visible', 'infrared', 'augmented'),
        modality_ids=pl.modality_ids,
        labels=pl.labels)
    for consumer in build().modules():
        if isinstance(consumer, PseudoLabelConsumer):
            with pytest.raises(ValueError, match='two-modality head'):
                consumer.set_pseudo_labels(three)


def test_modalities_are_data():
    """Other modality names: the losses are named after them, the numbers
    are those of the same labels under the usual names."""
    losses = {}
    for names in (('visible', 'infrared'), ('rgb', 'thermal')):
        torch.manual_seed(7)
        head = build()
        pl = result(modalities=names)
        hand_over(head, pl)
        feats, maps = inputs()
        rows = batch()
        rename = dict(visible=names[0], infrared=names[1])
        for s in rows:
            s.set_metainfo(dict(modality=rename[s.modality]))
        losses[names] = head.loss(feed(feats, maps), labelled(rows, pl))
    usual, other = losses.values()
    assert list(other) == [
        'loss_rgb', 'loss_cross_rgb', 'loss_thermal', 'loss_cross_thermal',
        'loss_part_rgb', 'loss_part_thermal', 'loss_gpcr_global',
        'loss_gpcr_part'
    ]
    for (k, v), w in zip(usual.items(), other.values()):
        assert torch.equal(v, w), k
