from .backbones import *  # noqa: F401,F403
from .data_preprocessors import *  # noqa: F401,F403
from .heads import *  # noqa: F401,F403
from .memories import *  # noqa: F401,F403
from .necks import *  # noqa: F401,F403
from .reiders import *  # noqa: F401,F403
from .task_modules import *  # noqa: F401,F403
from .wrappers import *  # noqa: F401,F403
