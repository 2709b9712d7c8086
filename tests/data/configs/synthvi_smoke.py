# Tiny SynthVI training run for CI: checks the mechanics (hooks, labels,
# losses, metrics), not the gains. `data_root` is overridden by the test.
_base_ = [
    '../../../configs/_base_/datasets/synthvi.py',
    '../../../configs/_base_/default_runtime.py'
]
data_root = 'data/synthvi_smoke'
generator = dict(
    num_train_ids=8,
    num_val_ids=1,
    num_test_ids=6,
    images_per_visible_cam=3,
    images_per_ir_cam=4,
    height=64,
    width=32)
img_scale = (32, 64)
train_pipeline = [
    dict(type='LoadVIReIDImage'),
    dict(type='mmcv.Resize', scale=img_scale, keep_ratio=False),
    dict(type='mmcv.RandomFlip', prob=0.5, direction='horizontal'),
    dict(
        type='ModalityBranch',
        visible=[dict(type='ChannelRandomErasing', prob=0.5)],
        infrared=[
            dict(type='ChannelRandomErasing', prob=0.5),
            dict(type='ChannelAdapGray', prob=0.5)
        ]),
    dict(type='PackVIReIDInputs'),
]
test_pipeline = [
    dict(type='LoadVIReIDImage'),
    dict(type='mmcv.Resize', scale=img_scale, keep_ratio=False),
    dict(type='PackVIReIDInputs'),
]
train_dataset = dict(
    type='SynthVI',
    data_root=data_root,
    generator=generator,
    split='train',
    pipeline=train_pipeline)
train_dataloader = dict(
    batch_size=16,
    num_workers=0,
    sampler=dict(
        type='CrossModalClusterSampler',
        num_clusters=2,
        num_instances=4,
        iters_per_epoch=4,
        mode='intra'),
    collate_fn=dict(type='pseudo_collate'),
    dataset=train_dataset)
extract_dataloader = dict(
    batch_size=32,
    num_workers=0,
    sampler=dict(type='DefaultSampler', shuffle=False),
    collate_fn=dict(type='pseudo_collate'),
    dataset=dict(train_dataset, pipeline=test_pipeline))
test_dataloader = dict(
    batch_size=32,
    dataset=dict(
        data_root=data_root,
        generator=generator,
        pipeline=test_pipeline,
        trials=[0, 1]))
val_dataloader = test_dataloader
model = dict(
    type='ReIDer',
    backbone=dict(
        type='mmpretrain.ResNet',
        depth=18,
        stem_channels=16,
        base_channels=16,
        out_indices=(3, )),
    neck=dict(type='mmpretrain.GeneralizedMeanPooling'),
    head=dict(type='DualMemoryContrastHead', feat_dim=128, cross_modal=True))
custom_hooks = [
    dict(
        type='ClusteringHook',
        extract_dataloader=extract_dataloader,
        eps=0.6,
        min_samples=2,
        k1=10,
        k2=3,
        centre_features=True,
        show_progress=False),
    dict(type='AssociationHook', start_epoch=1, cmfp_k=5),
    dict(type='EpochSeedHook'),
]
optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(type='Adam', lr=3.5e-4, weight_decay=5e-4))
train_cfg = dict(by_epoch=True, max_epochs=3, val_interval=3)
val_cfg = dict()
test_cfg = dict()
default_hooks = dict(
    logger=dict(type='LoggerHook', interval=1),
    checkpoint=dict(type='CheckpointHook', interval=1))
randomness = dict(seed=0)
