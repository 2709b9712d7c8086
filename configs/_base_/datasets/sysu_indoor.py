_base_ = ['./sysu_all.py']

test_dataloader = dict(dataset=dict(mode='indoor'))
val_dataloader = test_dataloader
