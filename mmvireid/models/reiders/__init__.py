from .reider import ReIDer

__all__ = ['ReIDer']
