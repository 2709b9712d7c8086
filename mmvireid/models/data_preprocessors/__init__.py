from .vireid_data_preprocessor import VIReIDDataPreprocessor

__all__ = ['VIReIDDataPreprocessor']
