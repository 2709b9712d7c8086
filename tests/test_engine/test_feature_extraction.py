import numpy as np
import pytest
import torch
from mmengine.dataset import DefaultSampler, pseudo_collate
from torch.utils.data import DataLoader

from mmvireid.datasets import SYSUMM01
from mmvireid.engine import extract_features, split_by_modality
from mmvireid.registry import MODELS
from mmvireid.utils import register_all_modules

register_all_modules()


def tiny_setup(sysu_root):
    """The SYSU-layout training set at 32x16, a non-shuffling loader over it
    and a tiny random ResNet-18 ReIDer."""
    dataset = SYSUMM01(
        sysu_root,
        split='train',
        check_counts=False,
        pipeline=[
            dict(type='LoadVIReIDImage'),
            dict(type='mmcv.Resize', scale=(16, 32), keep_ratio=False),
            dict(type='PackVIReIDInputs')
        ])
    loader = DataLoader(
        dataset,
        batch_size=5,
        sampler=DefaultSampler(dataset, shuffle=False),
        collate_fn=pseudo_collate)
    torch.manual_seed(0)
    model = MODELS.build(
        dict(
            type='ReIDer',
            backbone=dict(
                type='mmpretrain.ResNet',
                depth=18,
                stem_channels=8,
                base_channels=8,
                out_indices=(3, ))))
    return dataset, loader, model


def test_features_of_every_sample_in_dataset_order(sysu_root):
    dataset, loader, model = tiny_setup(sysu_root)
    model.train()
    out = extract_features(model, loader, show_progress=False)
    assert model.training  # mode restored
    assert out['features'].shape == (len(dataset), 64)
    torch.testing.assert_close(out['features'].norm(dim=1),
                               torch.ones(len(dataset)))
    assert out['pids'].tolist() == dataset.get_pids().tolist()
    assert out['modalities'] == dataset.modalities
    assert [out['modalities'][i]
            for i in out['modality_ids']] == dataset.get_modalities().tolist()
    # same features as predicting one sample alone, in eval mode
    model.eval()
    one = model.test_step(pseudo_collate([dataset[7]]))[0].pred_feature
    torch.testing.assert_close(
        out['features'][7], one / one.norm(), atol=1e-5, rtol=1e-5)
    split = split_by_modality(out['modality_ids'], out['modalities'])
    assert set(split) == set(dataset.modalities)
    assert sorted(np.concatenate(list(split.values()))) == list(
        range(len(dataset)))


def test_mixed_precision_extraction_returns_float32_close_to_fp32(sysu_root):
    """amp=True runs the model under autocast (bfloat16 on CPU): the
    features come back float32, normalised and close to the fp32 ones, and
    the autocast really applied (they are not bit-identical)."""
    dataset, loader, model = tiny_setup(sysu_root)
    full = extract_features(model, loader, show_progress=False)
    mixed = extract_features(model, loader, show_progress=False, amp=True)
    assert mixed['features'].dtype == torch.float32
    torch.testing.assert_close(mixed['features'].norm(dim=1),
                               torch.ones(len(dataset)))
    cosine = (mixed['features'] * full['features']).sum(1)
    assert cosine.min() > 0.99, cosine.min()
    assert not torch.equal(mixed['features'], full['features'])


def test_only_the_extractable_features_are_accepted():
    from mmvireid.engine.feature_extraction import check_extracted_features
    assert check_extracted_features(['global', 'parts']) == ('global', 'parts')
    for bad in (('parts', ), ('global', 'tokens')):
        with pytest.raises(
                ValueError,
                match=r"^ClusteringHook: the features .* 'global' "
                'is required'):
            check_extracted_features(bad, 'ClusteringHook')
