# SALCR on RegDB, one trial (1..10; the protocol trains one model per trial
# and reports the mean), visible->thermal evaluation. DBSCAN eps 0.3, CMFP
# k 8, 100 iterations per epoch; everything else as configs/salcr/sysu.py.
# The trial is set in the train, extraction and test datasets; all 10
# trials, trained (and evaluated both ways) and aggregated:
#   python tools/analysis_tools/salcr_regdb_trials.py [--gpus 2]
_base_ = ['./sysu.py']
data_root = 'data/regdb'
trial = 1
img_scale = (144, 288)  # (w, h)
test_pipeline = [
    dict(type='LoadVIReIDImage'),
    dict(type='mmcv.Resize', scale=img_scale, keep_ratio=False),
    dict(type='PackVIReIDInputs'),
]
cmfp_k = 8
regdb_train = dict(
    type='RegDB',
    data_root=data_root,
    split='train',
    trial=trial,
    pipeline={{_base_.train_pipeline}})
train_dataloader = dict(
    sampler=dict(iters_per_epoch=100),
    dataset=dict(_delete_=True, **regdb_train))
extract_dataloader = dict(
    batch_size=128,
    num_workers=8,
    sampler=dict(type='DefaultSampler', shuffle=False),
    collate_fn=dict(type='pseudo_collate'),
    dataset=dict(regdb_train, pipeline=test_pipeline))
test_dataloader = dict(
    dataset=dict(
        _delete_=True,
        type='RegDB',
        data_root=data_root,
        split='test',
        trial=trial,
        direction='v2t',
        pipeline=test_pipeline))
val_dataloader = test_dataloader
custom_hooks = [
    dict(
        type='StageSwitchHook',
        switch_epoch={{_base_.switch_epoch}},
        train_pipeline={{_base_.stage2_pipeline}}),
    dict(
        type='ClusteringHook',
        extract_dataloader=extract_dataloader,
        eps=0.3,
        min_samples=4,
        k1=30,
        k2=6,
        extract_part_features=True),
    dict(
        type='AssociationHook',
        start_epoch={{_base_.switch_epoch}},
        cmfp_k=cmfp_k,
        reference_stop=True),
    dict(type='EpochSeedHook'),
]
val_evaluator = dict(type='VIReIDMetric', cmfp_k=cmfp_k)
test_evaluator = val_evaluator
