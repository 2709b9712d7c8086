from .associators import *  # noqa: F401,F403
