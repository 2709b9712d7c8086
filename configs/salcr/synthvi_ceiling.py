# Supervised ceiling (NOT an unsupervised result): configs/salcr/synthvi.py
# with the true ids of the training set as pseudo-labels and the true
# cross-modal correspondence as association, without CMFP(tr). Shows how
# much of the gap to supervision the unsupervised rows close.
_base_ = ['./synthvi.py']
custom_hooks = dict(
    # DBSCAN's arguments go unused
    clustering=dict(label_source='ground_truth'),
    association=dict(ground_truth=True, cmfp_k=None))
