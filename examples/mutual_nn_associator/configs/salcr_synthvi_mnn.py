# SALCR on SynthVI with an out-of-tree associator: the clusters of the two
# modalities are matched by mutual nearest centroids (mnn_associator, this
# example's package, registered into mmvireid's TASK_UTILS) instead of
# SALCR's entropic OT. Everything else is mmvireid's configs/salcr/synthvi.py.
#   cd examples/mutual_nn_associator
#   PYTHONPATH=$PWD python ../../tools/train.py configs/salcr_synthvi_mnn.py
_base_ = ['mmvireid::salcr/synthvi.py']
custom_imports = dict(imports=['mnn_associator'], allow_failed_imports=False)
# (_delete_: the base's OTAssociator arguments do not apply to it)
custom_hooks = dict(
    association=dict(
        associator=dict(_delete_=True, type='MutualNNAssociator')))
