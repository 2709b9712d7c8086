# Ablation row "+FGSAL": DAGL plus the part branch (semantic-aligned part
# attention, part memories). No GPCR, no CMFP(tr).
_base_ = ['./synthvi.py']
model = dict(head=dict(instance_head=None))
custom_hooks = [
    dict(type='StageSwitchHook', switch_epoch={{_base_.switch_epoch}}),
    dict(
        type='ClusteringHook',
        extract_dataloader={{_base_.extract_dataloader}},
        eps=0.5,
        min_samples=4,
        k1=20,
        k2=6,
        centre_features=True,
        extract_part_features=True,
        show_progress=False),
    dict(type='AssociationHook', start_epoch={{_base_.switch_epoch}}),
    dict(type='EpochSeedHook'),
]
