import numpy as np
import pytest
import torch
import torch.nn.functional as F

from mmvireid.registry import MODELS
from mmvireid.structures import VIReIDDataSample
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


def result():
    """Visible 0-5, infrared 6-11 (10 an outlier)."""
    return dict(
        labels=np.array([0, 0, 1, 1, 2, 2, 0, 0, 1, 1, -1, 1]),
        cross_labels=np.array([0, 0, 1, 1, 1, 1, 0, 0, 1, 1, -1, 1]),
        infrared=np.array([False] * 6 + [True] * 6),
        features=F.normalize(torch.randn(12, D), dim=1),
        pids=np.arange(12),
        part_features=F.normalize(torch.randn(12, P, C), dim=-1))


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
    assert head.uses_feature_maps
    head.update_clusters(result())
    feats, maps = inputs()
    losses = head.loss(feats, batch(), maps)
    assert set(losses) == DAGL_KEYS
    assert not head.has_associations


def test_all_terms_after_association():
    torch.manual_seed(1)
    head = build()
    res = result()
    head.update_clusters(res)
    head.update_associations(res)
    feats, maps = inputs()
    losses = head.loss(feats, batch(), maps)
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
    with pytest.raises(ValueError, match='feat_maps'):
        head.loss(feats, batch())


def test_pairs_without_a_shared_label_are_dropped():
    torch.manual_seed(2)
    head = build()
    res = result()
    head.update_associations(res)
    feats, maps = inputs()
    # visible 4 (label 2, cross 1) with infrared 6 (label 0, cross 0):
    # no shared label in either space
    losses = head.loss(feats, batch(visible=(4, 4), infrared=(6, 7)), maps)
    # the part and instance terms are there (every rank of a distributed
    # run makes the same memory updates) but have no pair: zero
    assert DAGL_KEYS < set(losses)
    assert all(v.item() == 0 for k, v in losses.items() if k not in DAGL_KEYS)
    assert all(losses[k].item() > 0 for k in DAGL_KEYS)
    sum(losses.values()).backward()


def test_zero_clusters_in_one_modality():
    torch.manual_seed(3)
    head = build()
    res = result()
    res['labels'][6:] = -1
    res['cross_labels'][6:] = 0
    res['cross_labels'][:6] = -1
    head.update_clusters(res)
    head.update_associations(res)
    feats, maps = inputs()
    losses = head.loss(feats, batch(infrared=(6, 7)), maps)
    assert all(torch.isfinite(v) for v in losses.values())
    sum(losses.values()).backward()
    assert torch.isfinite(maps.grad).all()


def test_without_part_head_gpcr_is_global_only():
    torch.manual_seed(4)
    head = build(part=False)
    res = result()
    head.update_associations(res)
    feats, _ = inputs()
    losses = head.loss(feats, batch())
    assert set(losses) == DAGL_KEYS | {'loss_gpcr_global'}
    with pytest.raises(RuntimeError, match='part_head'):
        head.part_features(torch.randn(1, C, 5, 3))
    head.reinit_part_modules()  # nothing to do, no error


def test_part_features_and_reinit():
    torch.manual_seed(5)
    head = build(instance=False)
    assert head.part_features(torch.randn(2, C, 6, 3)).shape == (2, P, C)
    before = head.part_head.part_prototypes.detach().clone()
    head.reinit_part_modules()
    assert not torch.equal(before, head.part_head.part_prototypes)
    fresh = build(instance=False)
    head.update_associations(result())
    fresh.load_state_dict(head.state_dict())
    assert fresh.has_associations
