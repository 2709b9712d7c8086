from .dual_memory_contrast_head import DualMemoryContrastHead
from .fgsal_head import FGSALHead
from .gpcr_head import GPCRHead
from .mcf_head import MCFHead
from .modality_adversary import ModalityAdversary
from .salcr_head import SALCRHead

__all__ = [
    'DualMemoryContrastHead', 'FGSALHead', 'GPCRHead', 'SALCRHead',
    'ModalityAdversary', 'MCFHead'
]
