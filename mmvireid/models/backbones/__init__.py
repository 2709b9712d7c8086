from .two_stream_backbone import TwoStreamBackbone

__all__ = ['TwoStreamBackbone']
