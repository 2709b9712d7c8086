from .vireid_metric import VIReIDMetric

__all__ = ['VIReIDMetric']
