# SALCR on SYSU-MM01 (all-search evaluation, 10 trials), as published:
# two-stream ResNet-50, 288x144, 80 epochs (0-39 DCL baseline, 40-79 SALCR),
# Adam 3.5e-4 (x0.1 at 20 and 60), 300 iterations per epoch, batches of
# 12 clusters x 12 images per modality (+ 144 channel-augmented views).
#   bash tools/dist_train.sh configs/salcr/sysu.py 4
# The batch is per process; the reference trains on 2 GPUs with this batch
# split across them. Evaluation reports SALCR and SALCR + CMFP(te).
_base_ = [
    '../_base_/datasets/sysu_all.py',
    '../_base_/models/resnet50_two_stream_gem.py',
    '../_base_/default_runtime.py'
]
data_root = 'data/sysu'
img_scale = (144, 288)  # (w, h)
switch_epoch = 40
max_epochs = 80
feat_dim = 2048
cmfp_k = 30

# Views as the reference: Resize, Pad+RandomCrop, HFlip; ColorJitter
# (0.5, 0.5, 0.5, 0.5) on the CA and infrared views (mmvireid's ColorJitter:
# mmpretrain's with a hue shift that works under numpy 2); LTG on the plain
# visible view in stage 1 only (StageSwitchHook swaps the pipeline).
crop = [
    dict(type='mmcv.Resize', scale=img_scale, keep_ratio=False),
    dict(
        type='mmpretrain.RandomCrop',
        crop_size=(img_scale[1], img_scale[0]),
        padding=10),
    dict(type='mmcv.RandomFlip', prob=0.5, direction='horizontal'),
]
jitter = dict(
    type='ColorJitter', brightness=0.5, contrast=0.5, saturation=0.5, hue=0.5)
erasing = dict(type='ChannelRandomErasing', prob=0.5)
ltg = dict(type='LinearTransformationGenerator', prob=0.5)
ca_view = crop + [jitter, erasing, dict(type='ChannelExchange')]
infrared_views = crop + [
    jitter, erasing, dict(type='ChannelAdapGray', prob=0.5)
]
# stage 2 (from switch_epoch): plain and CA views of visible images
views = dict(
    type='ModalityBranch',
    visible=[
        dict(
            type='mmpretrain.MultiView',
            num_views=[1, 1],
            transforms=[crop + [erasing], ca_view])
    ],
    infrared=infrared_views)
# stage 1: the same with LTG on the plain visible view
stage1_views = dict(
    views,
    visible=[
        dict(views['visible'][0], transforms=[crop + [ltg, erasing], ca_view])
    ])
load, pack = dict(type='LoadVIReIDImage'), dict(type='PackVIReIDInputs')
train_pipeline = [load, stage1_views, pack]
stage2_pipeline = [load, views, pack]
train_dataset = dict(
    type={{_base_.dataset_type}},
    data_root=data_root,
    split='train',
    pipeline=train_pipeline)
train_dataloader = dict(
    batch_size=288,
    num_workers=8,
    persistent_workers=True,
    sampler=dict(
        type='CrossModalClusterSampler',
        num_clusters=12,
        num_instances=12,
        iters_per_epoch=300,
        mode='intra'),
    collate_fn=dict(type='mmvireid.vireid_collate'),
    dataset=train_dataset)
extract_dataloader = dict(
    batch_size=128,
    num_workers=8,
    sampler=dict(type='DefaultSampler', shuffle=False),
    collate_fn=dict(type='pseudo_collate'),
    dataset=dict(train_dataset, pipeline={{_base_.test_pipeline}}))

model = dict(
    head=dict(
        type='SALCRHead',
        global_head=dict(
            type='DualMemoryContrastHead', feat_dim=feat_dim,
            cross_modal=True),
        part_head=dict(type='FGSALHead', in_channels=feat_dim, num_parts=3),
        instance_head=dict(type='GPCRHead', k=30, loss_weight=0.5)))
# part parameters get no gradient in stage 1
model_wrapper_cfg = dict(find_unused_parameters=True)

custom_hooks = [
    dict(
        type='StageSwitchHook',
        switch_epoch=switch_epoch,
        train_pipeline=stage2_pipeline),
    dict(
        type='ClusteringHook',
        extract_dataloader=extract_dataloader,
        eps=0.6,
        min_samples=4,
        k1=30,
        k2=6,
        extract_part_features=True),
    # the reference's Sinkhorn stopping rule: the published association
    dict(
        type='AssociationHook',
        start_epoch=switch_epoch,
        cmfp_k=cmfp_k,
        reference_stop=True),
    dict(type='EpochSeedHook'),
]
val_evaluator = dict(type='VIReIDMetric', cmfp_k=cmfp_k)
test_evaluator = val_evaluator
optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(type='Adam', lr=3.5e-4, weight_decay=5e-4))
param_scheduler = [
    dict(type='MultiStepLR', by_epoch=True, milestones=[20, 60], gamma=0.1)
]
train_cfg = dict(by_epoch=True, max_epochs=max_epochs, val_interval=10)
val_cfg = dict()
test_cfg = dict()
default_hooks = dict(
    logger=dict(type='LoggerHook', interval=50),
    # the last epoch is the result: SYSU has no validation split, and
    # selecting on the test set (as the reference does) is not done here
    checkpoint=dict(type='CheckpointHook', interval=1, max_keep_ckpts=2))
randomness = dict(seed=0)
