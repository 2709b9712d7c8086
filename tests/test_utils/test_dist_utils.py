"""Distributed state of two CPU (gloo) processes: memories, buffers, DDP."""
import os
import socket

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
import torch.nn as nn

from mmvireid.models import (ClusterMemory, InstanceMemory, PartMemory,
                             VIReIDDistributedDataParallel)
from mmvireid.utils.dist_utils import (all_gather_rows, broadcast_buffers,
                                       rank_synchronised_buffers)

WORLD_SIZE = 2
STEPS = 4
FEAT_DIM = 6
NUM_PARTS = 2
NUM_ENTRIES = 5


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        return sock.getsockname()[1]


def _memories():
    torch.manual_seed(0)
    feats = torch.randn(20, FEAT_DIM)
    labels = torch.arange(20) % NUM_ENTRIES
    parts = torch.randn(20, NUM_PARTS, FEAT_DIM)
    cluster = ClusterMemory(FEAT_DIM, momentum=0.3)
    cluster.reset(feats, labels)
    part = PartMemory(NUM_PARTS, FEAT_DIM, momentum=0.3)
    part.reset(parts, labels)
    instance = InstanceMemory(
        FEAT_DIM, num_parts=NUM_PARTS, momentum=0.3, momentum_update=True)
    instance.reset(feats, torch.arange(20) * 3, part_features=parts)
    return dict(cluster=cluster, part=part, instance=instance)


def _rows(step: int, rank: int):
    """The rows rank ``rank`` holds at ``step``: a different count per rank
    and step, none at all for rank 1 at step 1; repeated labels."""
    count = 0 if (step, rank) == (1, 1) else 3 + step + 2 * rank
    gen = torch.Generator().manual_seed(100 * step + rank)
    return dict(
        feats=torch.randn(count, FEAT_DIM, generator=gen),
        parts=torch.randn(count, NUM_PARTS, FEAT_DIM, generator=gen),
        labels=torch.randint(-1, NUM_ENTRIES, (count, ), generator=gen),
        indices=torch.randint(0, 20, (count, ), generator=gen) * 3)


def _update(memories: dict, rows: dict) -> None:
    memories['cluster'].update(rows['feats'], rows['labels'])
    memories['part'].update(rows['parts'], rows['labels'])
    memories['instance'].update(rows['feats'], rows['indices'], rows['parts'])


def _state(memories: dict) -> dict:
    return {
        f'{name}.{key}': value.clone()
        for name, memory in memories.items()
        for key, value in memory.state_dict().items()
    }


class _Model(nn.Module):
    """A BatchNorm (ordinary buffers) and a memory (rank-synchronised)."""

    def __init__(self):
        super().__init__()
        self.linear = nn.Linear(FEAT_DIM, FEAT_DIM)
        self.bn = nn.BatchNorm1d(FEAT_DIM)
        self.memory = ClusterMemory(FEAT_DIM)

    def forward(self, x):
        return self.bn(self.linear(x)).sum()


def _worker(rank: int, port: int, out_dir: str) -> None:
    os.environ.update(MASTER_ADDR='127.0.0.1', MASTER_PORT=str(port))
    dist.init_process_group('gloo', rank=rank, world_size=WORLD_SIZE)
    torch.set_num_threads(1)
    try:
        memories = _memories()
        for step in range(STEPS):
            _update(memories, _rows(step, rank))
        result = dict(memories=_state(memories))
        # all_gather_rows: rank order, every rank the same rows
        gathered = all_gather_rows(
            torch.full((rank + 1, 2), float(rank)),
            torch.full((rank + 1, ), rank))
        result['gathered'] = gathered
        # the DDP wrapper leaves the memory alone, broadcasts BN statistics
        torch.manual_seed(0)
        model = _Model()
        model.memory.reset(torch.randn(4, FEAT_DIM) + rank, torch.arange(4))
        ddp = VIReIDDistributedDataParallel(module=model, device_ids=None)
        ddp(torch.randn(8, FEAT_DIM) + 3 * rank)  # BN updates locally
        result['memory_after_forward'] = model.memory.prototypes.clone()
        result['bn_before_broadcast'] = model.bn.running_mean.clone()
        result['count'] = broadcast_buffers(model)
        result['bn_after_broadcast'] = model.bn.running_mean.clone()
        torch.save(result, os.path.join(out_dir, f'rank{rank}.pth'))
    finally:
        dist.destroy_process_group()


@pytest.fixture(scope='module')
def ranks(tmp_path_factory):
    out = tmp_path_factory.mktemp('dist')
    mp.start_processes(
        _worker,
        args=(_free_port(), str(out)),
        nprocs=WORLD_SIZE,
        join=True,
        start_method='fork')
    return [torch.load(out / f'rank{r}.pth') for r in range(WORLD_SIZE)]


def test_memories_equal_one_process_with_the_concatenated_batches(ranks):
    single = _memories()
    for step in range(STEPS):
        per_rank = [_rows(step, r) for r in range(WORLD_SIZE)]
        _update(
            single, {
                key: torch.cat([rows[key] for rows in per_rank])
                for key in per_rank[0]
            })
    want = _state(single)
    assert set(want) == set(ranks[0]['memories'])
    for rank in ranks:
        for key, value in want.items():
            # the same arithmetic on the same rows: bitwise
            assert torch.equal(rank['memories'][key], value), key
    # and the updates did something (not a no-op on both sides)
    assert not torch.equal(want['cluster.prototypes'],
                           _state(_memories())['cluster.prototypes'])


def test_updating_each_rank_alone_would_differ(ranks):
    """The check above can fail: without gathering, rank 0's bank is not
    the one of the concatenated batches."""
    alone = _memories()
    for step in range(STEPS):
        _update(alone, _rows(step, 0))
    assert not torch.equal(
        _state(alone)['cluster.prototypes'],
        ranks[0]['memories']['cluster.prototypes'])


def test_all_gather_rows_in_rank_order(ranks):
    for rank in ranks:
        feats, labels = rank['gathered']
        assert labels.tolist() == [0, 1, 1]
        assert feats[:, 0].tolist() == [0., 1., 1.]


def test_ddp_policy_memories_kept_bn_broadcast(ranks):
    # the memory is not overwritten by rank 0's at the forward
    assert not torch.equal(ranks[0]['memory_after_forward'],
                           ranks[1]['memory_after_forward'])
    # BN statistics differ after the local forward, equal after broadcast
    assert not torch.equal(ranks[0]['bn_before_broadcast'],
                           ranks[1]['bn_before_broadcast'])
    assert torch.equal(ranks[0]['bn_after_broadcast'],
                       ranks[1]['bn_after_broadcast'])
    assert torch.equal(ranks[0]['bn_before_broadcast'],
                       ranks[1]['bn_after_broadcast'])
    assert ranks[0]['count'] == 3  # running mean, var, num_batches_tracked


def test_rank_synchronised_buffers_are_the_resizable_ones():
    names = rank_synchronised_buffers(_Model())
    assert names == ['memory.prototypes']


def test_single_process_helpers_are_identities():
    x, y = torch.randn(3, 2), torch.arange(3)
    gx, gy = all_gather_rows(x, y)
    assert gx is x and gy is y
    assert broadcast_buffers(_Model()) == 0
    with pytest.raises(ValueError, match='different row counts'):
        all_gather_rows(x, torch.arange(2))
