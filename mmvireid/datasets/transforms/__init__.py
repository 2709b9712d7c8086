from .channel_adap_gray import ChannelAdapGray
from .channel_exchange import ChannelExchange
from .channel_random_erasing import ChannelRandomErasing
from .color_jitter import ColorJitter, shift_hue
from .linear_transformation_generator import LinearTransformationGenerator
from .load_vireid_image import ImageLoadError, LoadVIReIDImage
from .modality_branch import ModalityBranch
from .pack_vireid_inputs import PackVIReIDInputs

__all__ = [
    'LoadVIReIDImage', 'ImageLoadError', 'PackVIReIDInputs',
    'ChannelRandomErasing', 'ChannelAdapGray', 'ChannelExchange',
    'LinearTransformationGenerator', 'ModalityBranch', 'ColorJitter',
    'shift_hue'
]
