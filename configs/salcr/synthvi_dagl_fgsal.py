# Ablation row "+FGSAL": DAGL plus the part branch (semantic-aligned part
# attention, part memories). configs/salcr/synthvi.py with GPCR and
# CMFP(tr) switched off.
_base_ = ['./synthvi.py']
model = dict(head=dict(instance_head=None))
custom_hooks = dict(association=dict(refiners=dict(cmfp=None)))
