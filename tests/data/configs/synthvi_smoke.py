# Tiny SALCR run on SynthVI for CI: configs/salcr/synthvi.py (pretrained
# two-stream MobileNetV2, DAGL + FGSAL + GPCR + CMFP(tr), stage switch) on a
# few identities, 3 epochs (stage switch at epoch 1). Checks the mechanics
# (hooks, labels, losses, metrics, DDP, resume), not the gains.
# `data_root` is overridden by the tests.
_base_ = ['../../../configs/salcr/synthvi.py']
data_root = 'data/synthvi_smoke'
generator = dict(
    num_train_ids=8,
    num_val_ids=1,
    num_test_ids=6,
    images_per_visible_cam=3,
    images_per_ir_cam=4)
switch_epoch = 1
# the training set of the training and extraction dataloaders
train_set = dict(data_root=data_root, generator=generator)
train_dataloader = dict(
    batch_size=16,
    sampler=dict(num_clusters=2, num_instances=4, iters_per_epoch=4),
    dataset=train_set)
test_dataloader = dict(
    batch_size=64,
    dataset=dict(data_root=data_root, generator=generator, trials=[0, 1]))
val_dataloader = test_dataloader
model = dict(head=dict(instance_head=dict(k=5)))
custom_hooks = dict(
    stage=dict(stages=dict(cross=dict(epoch=switch_epoch))),
    clustering=dict(
        extract_dataloader=dict(batch_size=64, dataset=train_set),
        clusterer=dict(eps=0.6, min_samples=2, k1=10, k2=3)),
    association=dict(refiners=dict(cmfp=dict(k=5))))
train_cfg = dict(max_epochs=3, val_interval=3)
default_hooks = dict(
    logger=dict(interval=1), checkpoint=dict(max_keep_ckpts=-1))
