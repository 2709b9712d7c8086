# MCF end to end on a tiny SynthVI, for CI: the three modalities of the
# tri-modal smoke run (visible, infrared, channel-augmented views as a
# virtual modality whose labels follow their visible images), PA-CBAM on
# the map pooled into two region features, MAAL with its own optimiser
# (the alternating step), then, from the second epoch, VRA association
# with cross contrast and uniform merging. Not a learning demo: a few
# identities, 3 epochs. `data_root` is overridden by the tests.
_base_ = ['./trimodal_smoke.py']

model = dict(
    neck=dict(
        _delete_=True,
        type='PACBAMNeck',
        in_channels=96,
        num_regions=2,
        reduction=8,
        # two region spaces: the feature is [r_1, r_2], 2 x 96
        pooling=dict(type='RegionGeMBNNeck', in_channels=96, num_regions=2)),
    head=dict(
        _delete_=True,
        type='MCFHead',
        base=dict(
            type='DualMemoryContrastHead', feat_dim=192, num_modalities=3),
        channel_loss=dict(type='ChannelIdentityLoss', loss_weight=0.1),
        adversary=dict(
            type='ModalityAdversary', feat_dim=192, alpha=1.0, beta=0.1),
        cross_weight=0.4,
        merging=dict(type='UniformMergingLoss'),
        merging_weights=(0.03 * 0.6, 0.03 * 0.4)))
custom_hooks = dict(
    stage=dict(
        type='StageHook',
        stages=dict(
            intra=dict(epoch=0, sampler_mode='intra'),
            cross=dict(epoch=1, sampler_mode='intra'))),
    clustering=dict(
        clusterer=dict(
            _delete_=True,
            type='ViewFollowingClusterer',
            follow=('augmented', ),
            clusterer={{_base_.clusterer}})),
    association=dict(
        type='AssociationHook',
        stages=('cross', ),
        associator=dict(type='VRAAssociator', num_regions=2, max_matches=3),
        pairs=[('visible', 'infrared'), ('infrared', 'visible')]))
optim_wrapper = dict(
    _delete_=True,
    constructor='MultiOptimWrapperConstructor',
    adversary=dict(
        module='head.adversary',
        type='OptimWrapper',
        optimizer=dict(type='Adam', lr=3.5e-4)),
    rest=dict(
        type='OptimWrapper',
        optimizer=dict(type='Adam', lr=3.5e-4, weight_decay=5e-4)))
train_cfg = dict(max_epochs=3, val_interval=3)
