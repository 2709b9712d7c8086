_base_ = ['./regdb_v2t.py']

test_dataloader = dict(dataset=dict(direction='t2v'))
val_dataloader = test_dataloader
