from .dual_memory_contrast_head import DualMemoryContrastHead

__all__ = ['DualMemoryContrastHead']
