# Tri-modal smoke run for CI, the ground of the multi-module collaborative
# framework: visible, infrared and channel-augmented visible images (a
# virtual 'augmented' modality made by VirtualModalityDataset) are three
# modalities, each clustered by the ClusteringHook, drawn in its own P x K
# blocks and contrasted with its own cluster memory; augmented images go
# through the visible stem (the backbone's stem table). A few identities,
# 2 epochs, then the SYSU-protocol evaluation. `data_root` is overridden by
# the tests.
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
    images_per_ir_cam=4)
img_scale = (32, 64)  # (w, h)
load = dict(type='LoadVIReIDImage')
resize = dict(type='mmcv.Resize', scale=img_scale, keep_ratio=False)
flip = dict(type='mmcv.RandomFlip', prob=0.5, direction='horizontal')
pack = dict(type='PackVIReIDInputs')
channel_augmentation = dict(type='ChannelExchange')
train_pipeline = [load, resize, flip, pack]
test_pipeline = [load, resize, pack]
real_train = dict(
    type='SynthVI',
    data_root=data_root,
    generator=generator,
    split='train',
    pipeline=train_pipeline)
modality = dict(
    type='VirtualModalityDataset', source='visible', name='augmented')
train_dataloader = dict(
    batch_size=12,  # 3 modalities x 2 clusters x 2 images
    num_workers=0,
    sampler=dict(
        type='CrossModalClusterSampler',
        num_clusters=2,
        num_instances=2,
        iters_per_epoch=3,
        mode='intra'),
    collate_fn=dict(type='pseudo_collate'),
    dataset=dict(
        modality,
        dataset=real_train,
        pipeline=[load, resize, flip, channel_augmentation, pack]))
extract_dataloader = dict(
    batch_size=64,
    num_workers=0,
    sampler=dict(type='DefaultSampler', shuffle=False),
    collate_fn=dict(type='pseudo_collate'),
    dataset=dict(
        modality,
        dataset=dict(real_train, pipeline=test_pipeline),
        pipeline=[load, resize, channel_augmentation, pack]))
test_dataloader = dict(
    batch_size=64,
    dataset=dict(
        data_root=data_root,
        generator=generator,
        trials=[0, 1],
        pipeline=test_pipeline))
val_dataloader = test_dataloader
val_evaluator = dict(type='VIReIDMetric')
test_evaluator = val_evaluator

model = dict(
    type='ReIDer',
    backbone=dict(
        type='TwoStreamBackbone',
        backbone=dict(type='mmpretrain.MobileNetV2', out_indices=(4, )),
        stems=dict(
            visible='visible', infrared='infrared', augmented='visible'),
        num_stem_stages=1,
        truncate_after=4),
    neck=dict(type='GeMBNNeck', in_channels=96, p=3.0),
    head=dict(type='DualMemoryContrastHead', feat_dim=96, num_modalities=3))
clusterer = dict(
    type='JaccardDBSCAN',
    eps=0.6,
    min_samples=2,
    k1=10,
    k2=3,
    centre_features=True)
custom_hooks = dict(
    clustering=dict(
        type='ClusteringHook',
        extract_dataloader=extract_dataloader,
        clusterer=clusterer,
        show_progress=False),
    epoch_seed=dict(type='EpochSeedHook'))
optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(type='Adam', lr=3.5e-4, weight_decay=5e-4))
train_cfg = dict(by_epoch=True, max_epochs=2, val_interval=2)
val_cfg = dict()
test_cfg = dict()
default_hooks = dict(
    logger=dict(type='LoggerHook', interval=1),
    checkpoint=dict(interval=1, max_keep_ckpts=1))
randomness = dict(seed=0)
