# ResNet-50 (last stride 1) + GeM pooling; ImageNet weights from a URL or a
# local path (set `pretrained` to your file when offline).
pretrained = 'torchvision://resnet50'
model = dict(
    type='ReIDer',
    backbone=dict(
        type='mmpretrain.ResNet',
        depth=50,
        strides=(1, 2, 2, 1),
        out_indices=(3, ),
        init_cfg=dict(type='Pretrained', checkpoint=pretrained)),
    neck=dict(type='mmpretrain.GeneralizedMeanPooling', p=3.0),
    test_cfg=dict(flip=True),
)
