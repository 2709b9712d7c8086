from .pseudo_labels import (PAIR_SEP, PseudoLabelConsumer, PseudoLabels,
                            pair_key)
from .vireid_data_sample import MODALITIES, VIReIDDataSample

__all__ = [
    'VIReIDDataSample', 'MODALITIES', 'PseudoLabels', 'PseudoLabelConsumer',
    'pair_key', 'PAIR_SEP'
]
