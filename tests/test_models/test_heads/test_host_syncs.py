"""The SALCR training step reads no device data on the host.

On the ``meta`` device a tensor has no data: ``.item()``, ``bool()`` and
boolean-mask indexing of a device tensor raise there, while host tensors
(the labels and pair ids of the data samples) work. Running the step with
the model on ``meta`` therefore finds every device synchronisation a GPU
step would make outside the optimiser.
"""
import os.path as osp
import traceback

import pytest
import torch
import torch.nn.functional as F
from mmengine.config import Config

from mmvireid.registry import MODELS
from mmvireid.structures import PseudoLabels, VIReIDDataSample, pair_key
from mmvireid.utils import register_all_modules

register_all_modules()

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.dirname(__file__))))
IDS, PER_ID = 4, 2


def paired_batch():
    """A packed paired batch as the sampler and pipeline give it: visible
    samples with their channel-augmented second view, infrared samples, the
    sampler's pair ids."""
    n = IDS * PER_ID
    inputs, samples = [], []
    for modality, offset in (('visible', 0), ('infrared', n)):
        for i in range(n):
            image = torch.randint(0, 255, (3, 64, 32), dtype=torch.uint8)
            inputs.append([image, image.flip(0)] if offset == 0 else image)
            samples.append(
                VIReIDDataSample(
                    metainfo=dict(
                        sample_idx=offset + i, pair_id=i, group_id=i //
                        PER_ID)).set_identity(i // PER_ID, 1, modality))
    return inputs, samples


def salcr_on_meta(**head):
    """configs/salcr/synthvi.py's model, with its pseudo-labels after an
    association, moved to the meta device."""
    torch.manual_seed(0)
    cfg = Config.fromfile(osp.join(ROOT, 'configs', 'salcr', 'synthvi.py'))
    cfg.model.head.instance_head.k = 3
    cfg.model.head.update(head)
    model = MODELS.build(cfg.model)  # no init_weights: no download
    n = IDS * PER_ID
    labels = torch.arange(2 * n) % n // PER_ID
    ids = (torch.arange(2 * n) >= n).long()
    none = torch.full_like(labels, -1)
    pl = PseudoLabels(
        modalities=('visible', 'infrared'),
        modality_ids=ids,
        labels=labels,
        features=F.normalize(torch.randn(2 * n, 96), dim=1),
        part_features=F.normalize(torch.randn(2 * n, 3, 96), dim=2))
    model.set_pseudo_labels(pl)
    model.set_pseudo_labels(
        pl.with_fields(
            cross_labels={
                pair_key('visible', 'infrared'):
                torch.where(ids == 0, labels, none),
                pair_key('infrared', 'visible'):
                torch.where(ids == 1, labels, none)
            }))
    return model.train().to('meta')


def step(model):
    inputs, samples = paired_batch()
    data = model.data_preprocessor(
        dict(inputs=inputs, data_samples=samples), training=True)
    assert len(data['data_samples']) == 3 * IDS * PER_ID
    losses = model.loss(data['inputs'], data['data_samples'])
    sum(losses.values()).backward()
    return losses


@pytest.mark.parametrize(
    'head', [
        dict(part_head=None, instance_head=None),
        dict(instance_head=None),
    ],
    ids=['dagl', 'dagl+fgsal'])
def test_dagl_and_fgsal_steps_make_no_device_sync(head):
    losses = step(salcr_on_meta(**head))
    assert all(v.device.type == 'meta' for v in losses.values())
    if head.get('part_head', True) is not None:
        assert 'loss_part_visible' in losses


def test_gpcr_positive_sets_are_the_only_device_read_left():
    """GPCR's positive sets come from top-k of the device logits, so its
    loss counts them on the host (documented); nothing before it does."""
    with pytest.raises(RuntimeError, match='meta') as error:
        step(salcr_on_meta())
    frames = [
        osp.basename(f.filename)
        for f in traceback.extract_tb(error.value.__traceback__)
    ]
    mine = [f for f in frames if not f.startswith('_')]
    assert mine[-1] == 'multi_positive_contrast_loss.py', frames
