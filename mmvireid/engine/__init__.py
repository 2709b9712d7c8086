"""Training-engine parts (hooks, loops) registered for MMEngine's Runner."""
from .feature_extraction import extract_features, split_by_modality
from .hooks import *  # noqa: F401,F403

__all__ = ['extract_features', 'split_by_modality']
