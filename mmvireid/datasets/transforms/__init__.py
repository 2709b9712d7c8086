from .load_vireid_image import ImageLoadError, LoadVIReIDImage
from .pack_vireid_inputs import PackVIReIDInputs

__all__ = ['LoadVIReIDImage', 'ImageLoadError', 'PackVIReIDInputs']
