from .vireid_data_sample import MODALITIES, VIReIDDataSample

__all__ = ['VIReIDDataSample', 'MODALITIES']
