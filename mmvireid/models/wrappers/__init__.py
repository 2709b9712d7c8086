from .vireid_distributed_data_parallel import VIReIDDistributedDataParallel

__all__ = ['VIReIDDistributedDataParallel']
