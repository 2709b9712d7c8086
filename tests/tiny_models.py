"""Tiny model parts shared by the model tests."""

# an mmpretrain ResNet-18 with 8 base channels: 64-channel maps, fast
TINY_BACKBONE = dict(
    type='mmpretrain.ResNet',
    depth=18,
    stem_channels=8,
    base_channels=8,
    out_indices=(3, ))
