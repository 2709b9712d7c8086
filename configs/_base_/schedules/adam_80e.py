# SALCR's schedule: Adam 3.5e-4 with L2 weight decay 5e-4 (not AdamW),
# x0.1 at epochs 20 and 60, 80 epochs, no warm-up.
optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(type='Adam', lr=3.5e-4, weight_decay=5e-4))
param_scheduler = [
    dict(
        type='MultiStepLR', by_epoch=True, milestones=[20, 60], gamma=0.1)
]
train_cfg = dict(by_epoch=True, max_epochs=80, val_interval=10)
val_cfg = dict()
test_cfg = dict()
