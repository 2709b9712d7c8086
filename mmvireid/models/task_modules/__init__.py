from .associators import *  # noqa: F401,F403
from .clusterers import *  # noqa: F401,F403
from .neighbours import *  # noqa: F401,F403
from .refiners import *  # noqa: F401,F403
