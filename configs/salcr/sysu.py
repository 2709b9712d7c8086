# SALCR on SYSU-MM01 (all-search evaluation, 10 trials), as published:
# configs/salcr/_base_salcr.py (two-stream ResNet-50, 288x144, 80 epochs,
# switch at 40, 300 iterations per epoch of 12 clusters x 12 images per
# modality) on SYSU-MM01's training set.
#   bash tools/dist_train.sh configs/salcr/sysu.py 4
# The batch is per process; the reference trains on 2 GPUs with this batch
# split across them. Evaluation reports SALCR and SALCR + CMFP(te).
_base_ = ['./_base_salcr.py', '../_base_/datasets/sysu_all.py']
data_root = 'data/sysu'
cmfp_k = 30  # CMFP(tr) and CMFP(te)

# read by the training and the clustering hook's extraction dataloaders
train_set = dict(type='SYSUMM01', data_root=data_root, split='train')
train_dataloader = dict(dataset=train_set)
custom_hooks = dict(
    clustering=dict(extract_dataloader=dict(dataset=train_set)),
    association=dict(refiners=dict(cmfp=dict(k=cmfp_k))))
val_evaluator = dict(cmfp_k=cmfp_k)
test_evaluator = val_evaluator
