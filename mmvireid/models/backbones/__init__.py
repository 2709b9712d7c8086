from .multi_stream_backbone import MultiStreamBackbone, TwoStreamBackbone

__all__ = ['MultiStreamBackbone', 'TwoStreamBackbone']
