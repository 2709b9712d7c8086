# Supervised ceiling (NOT an unsupervised result): configs/salcr/synthvi.py
# with the true ids of the training set as pseudo-labels and the true
# cross-modal correspondence as association. Shows how much of the gap to
# supervision the unsupervised rows close.
_base_ = ['./synthvi.py']
custom_hooks = [
    dict(type='StageSwitchHook', switch_epoch={{_base_.switch_epoch}}),
    dict(
        type='ClusteringHook',
        extract_dataloader={{_base_.extract_dataloader}},
        label_source='ground_truth',
        extract_part_features=True,
        show_progress=False),
    dict(
        type='AssociationHook',
        start_epoch={{_base_.switch_epoch}},
        ground_truth=True),
    dict(type='EpochSeedHook'),
]
