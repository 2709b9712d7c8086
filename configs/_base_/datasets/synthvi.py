# SynthVI: generated on first use into data_root, then read with the exact
# SYSU-MM01 loader and evaluated with the SYSU-MM01 all-search protocol.
dataset_type = 'SynthVI'
data_root = 'data/synthvi'
generator = dict()  # SynthVIConfig overrides, e.g. dict(seed=1)
img_scale = (64, 128)  # (w, h)

test_pipeline = [
    dict(type='LoadVIReIDImage'),
    dict(type='mmcv.Resize', scale=img_scale, keep_ratio=False),
    dict(type='PackVIReIDInputs'),
]

test_dataloader = dict(
    batch_size=64,
    num_workers=0,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        generator=generator,
        split='test',
        mode='all',
        trials=list(range(10)),
        pipeline=test_pipeline),
)
test_evaluator = dict(type='VIReIDMetric')
val_dataloader = test_dataloader
val_evaluator = test_evaluator
