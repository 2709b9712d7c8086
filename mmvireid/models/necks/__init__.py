from .gem_bnneck import GeMBNNeck
from .pa_cbam import PACBAMNeck
from .region_gem_bnneck import RegionGeMBNNeck

__all__ = ['GeMBNNeck', 'PACBAMNeck', 'RegionGeMBNNeck']
