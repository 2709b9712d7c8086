"""Training-engine parts (hooks, runner) registered for MMEngine."""
from .feature_extraction import extract_features, split_by_modality
from .hooks import *  # noqa: F401,F403
from .optimizers import *  # noqa: F401,F403
from .runner import VIReIDRunner

__all__ = ['extract_features', 'split_by_modality', 'VIReIDRunner']
