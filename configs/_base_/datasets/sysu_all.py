# SYSU-MM01, all-search mode. Evaluation: the mean of 10 gallery trials.
dataset_type = 'SYSUMM01'
data_root = 'data/sysu'
img_scale = (144, 288)  # (w, h)

test_pipeline = [
    dict(type='LoadVIReIDImage'),
    dict(type='mmcv.Resize', scale=img_scale, keep_ratio=False),
    dict(type='PackVIReIDInputs'),
]

test_dataloader = dict(
    batch_size=64,
    num_workers=4,
    persistent_workers=False,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        split='test',
        mode='all',
        trials=list(range(10)),
        pipeline=test_pipeline),
)
test_evaluator = dict(type='VIReIDMetric')
val_dataloader = test_dataloader
val_evaluator = test_evaluator
