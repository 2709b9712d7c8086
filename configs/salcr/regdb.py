# SALCR on RegDB, one trial (1..10; the protocol trains one model per trial
# and reports the mean), visible->thermal evaluation. DBSCAN eps 0.3, CMFP
# k 8, 100 iterations per epoch; everything else as configs/salcr/sysu.py
# (configs/salcr/_base_salcr.py). The trial is set in the train, extraction
# and test datasets; all 10 trials, trained (and evaluated both ways) and
# aggregated:
#   python tools/analysis_tools/salcr_regdb_trials.py [--gpus 2]
_base_ = ['./_base_salcr.py', '../_base_/datasets/regdb_v2t.py']
data_root = 'data/regdb'
trial = 1
cmfp_k = 8  # CMFP(tr) and CMFP(te)

# read by the training and the clustering hook's extraction dataloaders
train_set = dict(type='RegDB', data_root=data_root, split='train', trial=trial)
train_dataloader = dict(sampler=dict(iters_per_epoch=100), dataset=train_set)
custom_hooks = dict(
    clustering=dict(
        extract_dataloader=dict(dataset=train_set), clusterer=dict(eps=0.3)),
    association=dict(refiners=dict(cmfp=dict(k=cmfp_k))))
val_evaluator = dict(cmfp_k=cmfp_k)
test_evaluator = val_evaluator
