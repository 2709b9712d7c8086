# RegDB, visible -> thermal. One model per trial (1..10); report the mean
# over trials with tools/analysis_tools/aggregate_trials.py.
dataset_type = 'RegDB'
data_root = 'data/regdb'
trial = 1
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
        trial=trial,
        direction='v2t',
        pipeline=test_pipeline),
)
test_evaluator = dict(type='VIReIDMetric')
val_dataloader = test_dataloader
val_evaluator = test_evaluator
