# SALCR, the method as published, without a dataset: two-stream ResNet-50
# (GeM + BNNeck) with the SALCR head, the reference's training views at
# 288x144, 80 epochs (0-39 DCL baseline, 40-79 SALCR), Adam 3.5e-4 (x0.1 at
# 20 and 60), 300 iterations per epoch of 12 clusters x 12 images per
# modality (+ 144 channel-augmented views), and the label pipeline as
# custom hooks keyed by name: stages, clustering, association (with
# CMFP(tr)) and per-epoch seeding. Values are SYSU-MM01's.
#
# A dataset config (sysu.py, regdb.py, synthvi.py) adds a dataset base and
# its training set (type, data_root, split: merged into train_dataloader's
# and the clustering hook's extraction dataset), its CMFP k (association
# and evaluator) and changes a few values; an ablation row then states only
# what it switches off, e.g. custom_hooks = dict(association=None).
_base_ = [
    '../_base_/models/resnet50_two_stream_gem.py',
    '../_base_/schedules/adam_80e.py', '../_base_/default_runtime.py'
]
input_size = (144, 288)  # (w, h) of the views and of feature extraction
switch_epoch = 40
feat_dim = 2048

# Views as the reference: Resize, Pad+RandomCrop, HFlip; ColorJitter
# (0.5, 0.5, 0.5, 0.5) on the CA and infrared views (mmvireid's ColorJitter:
# mmpretrain's with a hue shift that works under numpy 2); LTG on the plain
# visible view in stage 1 only (the StageHook swaps the pipeline).
crop = [
    dict(type='mmcv.Resize', scale=input_size, keep_ratio=False),
    dict(
        type='mmpretrain.RandomCrop',
        crop_size=(input_size[1], input_size[0]),
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
# eval-mode features of the training set for clustering
extract_pipeline = [
    load,
    dict(type='mmcv.Resize', scale=input_size, keep_ratio=False), pack
]

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
    dataset=dict(pipeline=train_pipeline))  # + the dataset config's set

model = dict(
    head=dict(
        type='SALCRHead',
        # DAGL: intra + cross-modal dual contrast on the global feature
        global_head=dict(
            type='DualMemoryContrastHead', feat_dim=feat_dim,
            cross_modal=True),
        # FGSAL: 3 part prototypes, attention over paired stripes
        # (fresh part parameters at the cross-modality stage)
        part_head=dict(
            type='FGSALHead',
            in_channels=feat_dim,
            num_parts=3,
            reset_stages=('cross', )),
        # GPCR: instance memories, lambda = 0.5
        instance_head=dict(
            type='GPCRHead',
            k=30,
            loss=dict(type='MultiPositiveContrastLoss', loss_weight=0.5))))
# part parameters get no gradient in stage 1 (DDP must not wait for them)
model_wrapper_cfg = dict(find_unused_parameters=True)

custom_hooks = dict(
    # intra-modality stage (DCL baseline), then the cross-modality stage:
    # paired batches, fresh part modules and optimiser, stage-2 views
    stage=dict(
        type='StageHook',
        stages=dict(
            intra=dict(epoch=0, sampler_mode='intra'),
            cross=dict(
                epoch=switch_epoch,
                sampler_mode='paired',
                reset_optimizer=True,
                pipeline=stage2_pipeline))),
    clustering=dict(
        type='ClusteringHook',
        extract_dataloader=dict(
            batch_size=128,
            num_workers=8,
            sampler=dict(type='DefaultSampler', shuffle=False),
            collate_fn=dict(type='pseudo_collate'),
            dataset=dict(pipeline=extract_pipeline)),  # + the training set
        clusterer=dict(
            type='JaccardDBSCAN', eps=0.6, min_samples=4, k1=30, k2=6)),
    # refiners.cmfp: CMFP(tr), its k set by the dataset configs with their
    # evaluator's; the reference's Sinkhorn stopping rule: the published
    # association
    association=dict(
        type='AssociationHook',
        stages=('cross', ),
        refiners=dict(cmfp=dict(type='CMFPRefiner', k=30)),
        associator=dict(type='OTAssociator', reference_stop=True)),
    epoch_seed=dict(type='EpochSeedHook'),
)
default_hooks = dict(
    # the last epoch is the result: SYSU has no validation split, and
    # selecting on the test set (as the reference does) is not done here
    checkpoint=dict(interval=1, max_keep_ckpts=2))
randomness = dict(seed=0)
