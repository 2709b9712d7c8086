# Ablation row "+GPCR": DAGL + FGSAL plus collaborative refinement
# (instance memories, cross-modality intersection, mutual correction).
# configs/salcr/synthvi.py (the full method) with CMFP(tr) switched off.
_base_ = ['./synthvi.py']
custom_hooks = dict(association=dict(refiners=dict(cmfp=None)))
