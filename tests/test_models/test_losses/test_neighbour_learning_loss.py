"""MCF's neighbour learning loss against a brute-force loop."""
import math

import pytest
import torch
import torch.nn.functional as F

from mmvireid.models import InstanceMemory
from mmvireid.models.task_modules import NeighbourSets
from mmvireid.registry import MODELS
from mmvireid.utils import register_all_modules

register_all_modules()

TAU = 0.05


def make_memory(idx, regions, dim, gen):
    memory = InstanceMemory(regions * dim, num_parts=regions, part_dim=dim)
    parts = torch.randn(len(idx), regions, dim, generator=gen)
    memory.reset(parts.flatten(1), idx, parts)
    return memory


def make_case(seed=0, regions=2, dim=5):
    gen = torch.Generator().manual_seed(seed)
    idx = dict(v=torch.tensor([0, 2, 4, 6, 8, 10]), r=torch.tensor([1, 3, 5]))
    # r's image 7 is an outlier: in the tables, not in the memory
    memories = dict(
        v=make_memory(idx['v'], regions, dim, gen),
        r=make_memory(idx['r'], regions, dim, gen))
    table_idx = dict(v=idx['v'], r=torch.tensor([1, 3, 5, 7]))
    neighbours = {
        'v->v':
        torch.tensor([[[2, 4], [0, -1], [-1, -1], [8, 10], [6, -1], [6, 8]],
                      [[4, -1], [-1, -1], [0, 2], [-1, -1], [10, 6], [-1,
                                                                      -1]]]),
        'v->r':
        torch.tensor([[[1], [7], [3], [-1], [5], [1]],
                      [[3], [-1], [-1], [5], [7], [1]]]),
        'r->r':
        torch.tensor([[[3, 5], [1, -1], [-1, -1], [-1, -1]],
                      [[-1, -1], [5, -1], [3, -1], [-1, -1]]]),
        'r->v':
        torch.tensor([[[0], [2], [-1], [4]], [[6], [-1], [8], [10]]]),
    }
    sets = NeighbourSets(table_idx, neighbours)
    return sets, memories, gen


def brute_force(feats, batch_idx, sets, memories):
    total = 0.0
    for key in sets.neighbours:
        src, dst = key.split('->')
        if src not in feats:
            continue
        memory = memories[dst]
        stored = memory.indices.tolist()
        terms = []
        for b, i in enumerate(batch_idx[src].tolist()):
            if i not in sets.indices[src].tolist():
                continue
            row = sets.indices[src].tolist().index(i)
            for r in range(sets.num_regions):
                nbrs = [
                    stored.index(j)
                    for j in sets.neighbours[key][r, row].tolist()
                    if j in stored
                ]
                if not nbrs:
                    continue
                f = F.normalize(feats[src][b, r], dim=0)
                logits = memory.part_features[:, r] @ f / TAU
                log_p = logits - torch.logsumexp(logits, 0)
                terms.append(-sum(log_p[n] for n in nbrs) / len(nbrs))
        if terms:
            total = total + sum(terms) / len(terms)
    return total


def batch(gen, regions=2, dim=5):
    idx = dict(v=torch.tensor([4, 2, 10, 9]), r=torch.tensor([7, 1, 5]))
    feats = {
        m:
        torch.randn(len(i), regions, dim, generator=gen, requires_grad=True)
        for m, i in idx.items()
    }
    return feats, idx


@pytest.mark.parametrize('seed', [0, 1])
def test_matches_brute_force_and_its_gradients(seed):
    sets, memories, gen = make_case(seed)
    feats, idx = batch(gen)
    loss_fn = MODELS.build(
        dict(type='NeighbourLearningLoss', temperature=TAU, loss_weight=0.5))
    ours = loss_fn(feats, idx, sets, memories)
    ref = brute_force(feats, idx, sets, memories)
    torch.testing.assert_close(ours, 0.5 * ref)
    grads = torch.autograd.grad(ours, list(feats.values()))
    ref_grads = torch.autograd.grad(0.5 * ref, list(feats.values()))
    for g, rg in zip(grads, ref_grads):
        torch.testing.assert_close(g, rg)
    # dataset index 9 is no visible sample: its row gets no gradient
    assert (grads[0][3] == 0).all() and grads[0][0].abs().sum() > 0
    parts = loss_fn.direction_losses(feats, idx, sets, memories)
    assert set(parts) == {'v->v', 'v->r', 'r->r', 'r->v'}
    torch.testing.assert_close(sum(parts.values()), ref)


def test_empty_rows_contribute_nothing_and_never_nan():
    sets, memories, gen = make_case()
    feats, idx = batch(gen)
    loss_fn = MODELS.build(dict(type='NeighbourLearningLoss'))
    # r's outlier 7 has an empty 'r->r' row: only 'r->v' is left
    only = dict(r=feats['r'][:1]), dict(r=idx['r'][:1])
    loss = loss_fn(*only, sets, memories)
    parts = loss_fn.direction_losses(*only, sets, memories)
    assert set(parts) == {'r->v'}
    torch.testing.assert_close(loss, parts['r->v'])
    torch.testing.assert_close(loss, brute_force(*only, sets, memories))
    # all neighbours gone: a zero that keeps the graph, zero gradients
    empty = NeighbourSets(sets.indices, {
        k: torch.full_like(v, -1)
        for k, v in sets.neighbours.items()
    })
    zero = loss_fn(feats, idx, empty, memories)
    assert zero.item() == 0 and zero.requires_grad
    zero.backward()
    assert all(
        torch.isfinite(f.grad).all() and (f.grad == 0).all()
        for f in feats.values())
    assert torch.isfinite(loss)


def test_value_of_a_single_pair():
    # one query, memory of two images, neighbour = the first one
    memory = InstanceMemory(2, num_parts=1, part_dim=2)
    entries = torch.tensor([[[1.0, 0.0]], [[0.0, 1.0]]])
    memory.reset(entries.flatten(1), torch.tensor([3, 8]), entries)
    sets = NeighbourSets(
        dict(a=torch.tensor([0])), {'a->b': torch.tensor([[[3]]])})
    feat = torch.tensor([[[0.6, 0.8]]])
    loss = MODELS.build(dict(type='NeighbourLearningLoss'))(
        dict(a=feat), dict(a=torch.tensor([0])), sets, dict(b=memory))
    expect = -(0.6 / TAU - math.log(math.exp(0.6 / TAU) + math.exp(0.8 / TAU)))
    assert loss.item() == pytest.approx(expect, rel=1e-5)


def test_concatenated_features_use_the_region_union():
    sets, memories, gen = make_case()
    feats, idx = batch(gen)
    flat = {m: f.flatten(1) for m, f in feats.items()}
    loss_fn = MODELS.build(dict(type='NeighbourLearningLoss'))
    got = loss_fn.direction_losses(flat, idx, sets, memories)['v->v']
    # brute force on the global entries, union of the two regions' sets
    memory, stored = memories['v'], memories['v'].indices.tolist()
    terms = []
    for b, i in enumerate(idx['v'].tolist()):
        if i not in sets.indices['v'].tolist():
            continue
        row = sets.indices['v'].tolist().index(i)
        union = set(sets.neighbours['v->v'][:, row].flatten().tolist())
        nbrs = [stored.index(j) for j in sorted(union) if j in stored]
        if not nbrs:
            continue
        logits = memory.features @ F.normalize(flat['v'][b], dim=0) / TAU
        log_p = logits - torch.logsumexp(logits, 0)
        terms.append(-sum(log_p[n] for n in nbrs) / len(nbrs))
    torch.testing.assert_close(got, sum(terms) / len(terms))


def test_errors_name_the_setting():
    with pytest.raises(ValueError, match='temperature'):
        MODELS.build(dict(type='NeighbourLearningLoss', temperature=0))
    sets, memories, gen = make_case()
    feats, idx = batch(gen, dim=3)
    with pytest.raises(ValueError, match='part_features'):
        MODELS.build(dict(type='NeighbourLearningLoss'))(feats, idx, sets,
                                                         memories)
