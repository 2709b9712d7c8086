"""Training-engine parts (hooks, loops) registered for MMEngine's Runner."""
from .feature_extraction import extract_features, split_by_modality

__all__ = ['extract_features', 'split_by_modality']
