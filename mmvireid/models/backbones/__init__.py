from .ibn_conv_patch_embed import IBNConvPatchEmbed
from .multi_modal_vit import MultiModalViT
from .multi_stream_backbone import MultiStreamBackbone, TwoStreamBackbone

__all__ = [
    'MultiStreamBackbone', 'TwoStreamBackbone', 'MultiModalViT',
    'IBNConvPatchEmbed'
]
