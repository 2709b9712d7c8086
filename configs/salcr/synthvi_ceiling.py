# Supervised ceiling (NOT an unsupervised result): configs/salcr/synthvi.py
# with the true ids of the training set as pseudo-labels and the true
# cross-modal correspondence as association, without CMFP(tr). Shows how
# much of the gap to supervision the unsupervised rows close.
_base_ = ['./synthvi.py']
# (_delete_: the ground-truth components take none of the base's arguments)
custom_hooks = dict(
    clustering=dict(
        clusterer=dict(_delete_=True, type='GroundTruthClusterer')),
    association=dict(
        refiners=dict(cmfp=None),
        associator=dict(_delete_=True, type='GroundTruthAssociator')))
