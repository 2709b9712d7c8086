from .gem_bnneck import GeMBNNeck
from .pa_cbam import PACBAMNeck

__all__ = ['GeMBNNeck', 'PACBAMNeck']
