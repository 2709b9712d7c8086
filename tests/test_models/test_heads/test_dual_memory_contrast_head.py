import numpy as np
import pytest
import torch

from mmvireid.registry import MODELS
from mmvireid.structures import VIReIDDataSample
from mmvireid.utils import register_all_modules

register_all_modules()


def samples(indices, infrared):
    return [
        VIReIDDataSample(metainfo=dict(sample_idx=i)).set_identity(
            0, 1, 'infrared' if r else 'visible')
        for i, r in zip(indices, infrared)
    ]


def clusters():
    feats = torch.nn.functional.normalize(torch.randn(8, 4), dim=1)
    return dict(
        features=feats,
        labels=np.array([0, 0, 1, 1, 0, 0, 1, -1]),
        infrared=np.array([False] * 4 + [True] * 4))


def test_intra_then_cross_terms():
    torch.manual_seed(0)
    head = MODELS.build(
        dict(
            type='DualMemoryContrastHead',
            feat_dim=4,
            temperature=1.0,
            cross_modal=True))
    with pytest.raises(RuntimeError, match='ClusteringHook'):
        head.loss(torch.randn(2, 4), samples([0, 4], [False, True]))
    result = clusters()
    head.update_clusters(result)
    assert head.memory_visible.num_clusters == 2
    batch = samples([0, 2, 4, 7], [False, False, True, True])
    feats = torch.randn(4, 4, requires_grad=True)
    losses = head.loss(feats, batch)
    # no association yet: cross terms are zero
    assert losses['loss_cross_visible'].item() == 0
    assert losses['loss_visible'].item() > 0
    head.update_associations(
        dict(result, cross_labels=np.array([1, 1, 0, 0, 0, 0, 1, -1])))
    before = head.memory_infrared.prototypes.clone()
    losses = head.loss(feats, batch)
    assert losses['loss_cross_visible'].item() > 0
    # the infrared memory moved towards its batch features (incl. the
    # visible ones through their cross labels)
    assert not torch.equal(before, head.memory_infrared.prototypes)
    sum(losses.values()).backward()
    # the outlier (index 7) contributes no gradient
    assert feats.grad[3].abs().sum() == 0


def test_labels_and_memories_are_checkpointed():
    torch.manual_seed(0)
    head = MODELS.build(dict(type='DualMemoryContrastHead', feat_dim=4))
    head.update_clusters(clusters())
    fresh = MODELS.build(dict(type='DualMemoryContrastHead', feat_dim=4))
    fresh.load_state_dict(head.state_dict())
    assert torch.equal(fresh.labels, head.labels)
    assert torch.equal(fresh.memory_infrared.prototypes,
                       head.memory_infrared.prototypes)
