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
custom_hooks = dict(
    stage=dict(stages=dict(cross=dict(sampler_mode=None))), association=None)
