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
train_dataloader = dict(
    batch_size=16,
    sampler=dict(num_clusters=2, num_instances=4, iters_per_epoch=4),
    dataset=dict(data_root=data_root, generator=generator))
extract_dataloader = dict(
    batch_size=64,
    num_workers=0,
    sampler=dict(type='DefaultSampler', shuffle=False),
    collate_fn=dict(type='pseudo_collate'),
    dataset=dict(
        type='SynthVI',
        data_root=data_root,
        generator=generator,
        split='train',
        pipeline={{_base_.test_pipeline}}))
test_dataloader = dict(
    batch_size=64,
    dataset=dict(data_root=data_root, generator=generator, trials=[0, 1]))
val_dataloader = test_dataloader
model = dict(head=dict(instance_head=dict(k=5)))
custom_hooks = [
    dict(
        type='ClusteringHook',
        extract_dataloader=extract_dataloader,
        eps=0.6,
        min_samples=2,
        k1=10,
        k2=3,
        centre_features=True,
        extract_part_features=True,
        show_progress=False),
    dict(type='StageSwitchHook', switch_epoch=switch_epoch),
    dict(type='AssociationHook', start_epoch=switch_epoch, cmfp_k=5),
    dict(type='EpochSeedHook'),
]
train_cfg = dict(max_epochs=3, val_interval=3)
default_hooks = dict(
    logger=dict(type='LoggerHook', interval=1),
    checkpoint=dict(type='CheckpointHook', interval=1, max_keep_ckpts=-1))
randomness = dict(seed=0)
