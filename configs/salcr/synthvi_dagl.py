# Ablation row "+DAGL": the baseline plus dual OT association and the
# global dual contrast from the switch epoch (paired batches).
# configs/salcr/synthvi.py with FGSAL, GPCR and CMFP(tr) switched off.
_base_ = ['./synthvi.py']
model = dict(head=dict(part_head=None, instance_head=None))
custom_hooks = dict(association=dict(refiners=dict(cmfp=None)))
