"""Run VIReIDMetric in each process of a torchrun job (gloo, CPU).

Usage: torchrun --nproc_per_node=2 ddp_metric_worker.py OUT_FILE
"""
import sys

import torch
import torch.distributed as dist
from eval_sets import make_eval_set

from mmvireid.evaluation import VIReIDMetric


def main(out_path: str) -> None:
    dist.init_process_group('gloo')
    rank, world_size = dist.get_rank(), dist.get_world_size()
    meta, samples, *_ = make_eval_set(seed=4)
    # what mmengine's DefaultSampler(shuffle=False) gives each rank,
    # padded to equal length as the sampler pads
    padded = samples + samples[:(-len(samples)) % world_size]
    mine = padded[rank::world_size]
    metric = VIReIDMetric(cmfp_k=4)
    metric.dataset_meta = meta
    for start in range(0, len(mine), 5):
        metric.process(None, mine[start:start + 5])
    out = metric.evaluate(len(samples))
    if rank == 0:
        torch.save(out, out_path)
    dist.destroy_process_group()


if __name__ == '__main__':
    main(sys.argv[1])
