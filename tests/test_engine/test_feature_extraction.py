import torch
from mmengine.dataset import DefaultSampler, pseudo_collate
from torch.utils.data import DataLoader

from mmvireid.datasets import SYSUMM01
from mmvireid.engine import extract_features, split_by_modality
from mmvireid.registry import MODELS
from mmvireid.utils import register_all_modules

register_all_modules()


def test_features_of_every_sample_in_dataset_order(sysu_root):
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
    model.train()
    out = extract_features(model, loader, show_progress=False)
    assert model.training  # mode restored
    assert out['features'].shape == (len(dataset), 64)
    torch.testing.assert_close(out['features'].norm(dim=1),
                               torch.ones(len(dataset)))
    assert out['pids'].tolist() == dataset.get_pids().tolist()
    assert out['infrared'].tolist() == [
        m == 'infrared' for m in dataset.get_modalities()
    ]
    # same features as predicting one sample alone, in eval mode
    model.eval()
    one = model.test_step(pseudo_collate([dataset[7]]))[0].pred_feature
    torch.testing.assert_close(out['features'][7],
                               one / one.norm(), atol=1e-5, rtol=1e-5)
    split = split_by_modality(out['infrared'])
    assert len(split['visible']) + len(split['infrared']) == len(dataset)
