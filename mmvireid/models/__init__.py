from .reiders import *  # noqa: F401,F403
