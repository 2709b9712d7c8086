from .base_refiner import BaseRefiner
from .cmfp_refiner import CMFPRefiner

__all__ = ['BaseRefiner', 'CMFPRefiner']
