# Ablation row "baseline" (paper Table 3): the intra-modality DCL stage for
# the whole run. configs/salcr/synthvi.py with association (DAGL), FGSAL,
# GPCR and CMFP(tr) switched off; nothing else changed (same schedule,
# same optimiser reset at the switch epoch, intra batches throughout).
_base_ = ['./synthvi.py']
model = dict(
    head=dict(
        global_head=dict(cross_modal=False),
        part_head=None,
        instance_head=None))
custom_hooks = [
    dict(
        type='StageSwitchHook',
        switch_epoch={{_base_.switch_epoch}},
        sampler_mode=None),
    dict(
        type='ClusteringHook',
        extract_dataloader={{_base_.extract_dataloader}},
        eps=0.5,
        min_samples=4,
        k1=20,
        k2=6,
        centre_features=True,
        show_progress=False),
    dict(type='EpochSeedHook'),
]
