from .gem_bnneck import GeMBNNeck

__all__ = ['GeMBNNeck']
