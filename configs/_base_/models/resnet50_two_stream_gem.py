# Two-stream ResNet-50 (per-modality stem conv1/bn1/relu/maxpool, shared
# layer1-4, last stride 1 -> 18x9 maps at 288x144) + GeM (p=3) + BNNeck:
# the backbone of ADCA / SALCR. ImageNet weights from a URL or a local path
# (set `pretrained` to your file when offline).
pretrained = 'torchvision://resnet50'
model = dict(
    type='ReIDer',
    backbone=dict(
        type='TwoStreamBackbone',
        backbone=dict(
            type='mmpretrain.ResNet',
            depth=50,
            strides=(1, 2, 2, 1),
            out_indices=(3, ),
            init_cfg=dict(type='Pretrained', checkpoint=pretrained)),
        # modality -> stem; e.g. augmented='visible' runs a channel-augmented
        # view through the visible stem, augmented='augmented' gives it its own
        stems=dict(visible='visible', infrared='infrared'),
        num_stem_stages=0),
    neck=dict(type='GeMBNNeck', in_channels=2048, p=3.0),
    test_cfg=dict(flip=True),
)
