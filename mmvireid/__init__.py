"""mmvireid: unsupervised visible-infrared person re-identification on
MMEngine."""
import mmengine
from mmengine.utils import digit_version

from .version import __version__, version_info

mmengine_minimum_version = '0.10.0'
mmengine_maximum_version = '1.0.0'
mmengine_version = digit_version(mmengine.__version__)

if not (digit_version(mmengine_minimum_version) <= mmengine_version <
        digit_version(mmengine_maximum_version)):
    raise RuntimeError(
        f'MMEngine=={mmengine.__version__} is used but incompatible with '
        f'mmvireid. Please install mmengine>={mmengine_minimum_version}, '
        f'<{mmengine_maximum_version}.')

from .utils import config_compat  # noqa: F401,E402  (enables mmvireid::)

__all__ = ['__version__', 'version_info', 'digit_version']
