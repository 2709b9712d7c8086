from .vireid_runner import VIReIDRunner

__all__ = ['VIReIDRunner']
