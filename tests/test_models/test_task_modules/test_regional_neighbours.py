"""MCF's regional neighbour sets against a dense brute force."""
import pytest
import torch
import torch.nn.functional as F

from mmvireid.models.task_modules import NeighbourSets, RegionalNeighbours
from mmvireid.models.task_modules.neighbours.neighbour_sets import \
    merge_regions
from mmvireid.models.task_modules.neighbours.regional_neighbours import \
    reciprocal_mask
from mmvireid.registry import TASK_UTILS
from mmvireid.structures import PseudoLabels, pair_key
from mmvireid.utils import register_all_modules

register_all_modules()


def dense_sets(feats, cams, labels, intra, inter, regions, camera_aware=True):
    """Brute force: full similarity matrices and rankings, one query and
    candidate at a time."""
    out = {}
    names = list(feats)
    split = {
        m: F.normalize(f.view(len(f), regions, -1), dim=-1)
        for m, f in feats.items()
    }
    for s in names:
        for t in names:
            k1, k2 = intra if s == t else inter
            sets = []
            for r in range(regions):
                sim = split[s][:, r] @ split[t][:, r].T  # (n_s, n_t)
                if s == t:
                    sim.fill_diagonal_(-float('inf'))
                by_row = torch.argsort(sim, 1, descending=True)[:, :k1]
                by_col = torch.argsort(sim, 0, descending=True)[:k2]
                rows = []
                for i in range(len(sim)):
                    kept = []
                    for j in by_row[i].tolist():
                        if i not in by_col[:, j].tolist():
                            continue
                        if camera_aware and cams[t][j] == cams[s][i]:
                            same = labels is not None and labels[s][
                                i] >= 0 and labels[t][j] == labels[s][i]
                            if not same:
                                continue
                        kept.append(j)
                    rows.append(kept)
                sets.append(rows)
            out[pair_key(s, t)] = sets
    return out


def table_as_lists(table):
    return [[[j for j in row if j >= 0] for row in region.tolist()]
            for region in table]


def random_case(seed, n_a=40, n_b=25, regions=3, dim=6):
    gen = torch.Generator().manual_seed(seed)
    feats = dict(
        a=torch.randn(n_a, regions * dim, generator=gen),
        b=torch.randn(n_b, regions * dim, generator=gen))
    cams = dict(
        a=torch.randint(0, 3, (n_a, ), generator=gen),
        b=torch.randint(2, 5, (n_b, ), generator=gen))  # camera 2 shared
    labels = dict(
        a=torch.randint(-1, 4, (n_a, ), generator=gen),
        b=torch.randint(-1, 4, (n_b, ), generator=gen))
    return feats, cams, labels


@pytest.mark.parametrize('use_labels', [True, False])
@pytest.mark.parametrize('seed', [0, 1])
def test_equals_dense_brute_force(seed, use_labels):
    feats, cams, labels = random_case(seed)
    labels = labels if use_labels else None
    rn = RegionalNeighbours(num_regions=3, intra_k=(9, 4), inter_k=(7, 5))
    sets = rn(feats, cams, labels)
    ref = dense_sets(feats, cams, labels, (9, 4), (7, 5), 3)
    assert set(sets.neighbours) == set(ref) == {'a->a', 'a->b', 'b->a', 'b->b'}
    for key, table in sets.neighbours.items():
        n_src = len(feats[key[0]])
        assert table.dtype == torch.int64 and table.shape[:2] == (3, n_src)
        # fixed width = the largest set; the rest is -1 padding at the end
        assert table.size(2) == max(len(r) for reg in ref[key] for r in reg)
        assert table_as_lists(table) == ref[key]
        valid = table >= 0
        assert not (valid[..., 1:] & ~valid[..., :-1]).any()
    # the camera rule removed something, so the test exercises it
    loose = dense_sets(feats, cams, labels, (9, 4), (7, 5), 3, False)
    assert loose['a->a'] != ref['a->a']
    same_camera = [
        j for reg in ref['a->a'] for i, row in enumerate(reg) for j in row
        if cams['a'][i] == cams['a'][j]
    ]
    assert bool(same_camera) == use_labels  # cluster mates kept, only them


def test_reciprocity_and_ranges_on_a_hand_case():
    # points on the unit circle: similarity falls with the angle between
    angles = torch.tensor([0.0, 0.1, 0.25, 0.45, 1.2])
    feats = dict(m=torch.stack([angles.cos(), angles.sin()], 1))
    # top-2 lists: 0:[1,2] 1:[0,2] 2:[1,3] 3:[2,1] 4:[3,2]
    sym = RegionalNeighbours(num_regions=1, intra_k=(2, 2), camera_aware=False)
    assert table_as_lists(sym(feats).neighbours['m->m'])[0] == [[1], [0, 2],
                                                                [1, 3], [2],
                                                                []]
    # k2 = 1: the candidate must rank the query first (top-1 lists:
    # 0:1 1:0 2:1 3:2 4:3)
    asym = RegionalNeighbours(
        num_regions=1, intra_k=(2, 1), camera_aware=False)
    table = asym(feats).neighbours['m->m'][0]
    assert table.tolist() == [[1, -1], [0, 2], [3, -1], [-1, -1], [-1, -1]]


def test_asymmetric_ranges_between_modalities():
    # queries q0, q1; gallery g0 close to both, g1 farther
    q = torch.tensor([[1.0, 0.0], [0.9, 0.1]])
    g = torch.tensor([[0.95, 0.05], [0.0, 1.0]])
    rn = RegionalNeighbours(num_regions=1, inter_k=(2, 1), camera_aware=False)
    sets = rn(dict(q=q, g=g))
    # g0's top-1 query is q0 (cos closer) so only q0 keeps g0; g1's top-1 is
    # q1 and g1 is in q1's top-2, so q1 keeps g1
    assert table_as_lists(sets.neighbours['q->g']) == [[[0], [1]]]
    # the other way: q0's top-1 gallery is g0, q1's top-1 is g0 too
    assert table_as_lists(sets.neighbours['g->q']) == [[[0, 1], []]]


def test_reciprocal_mask_matches_loops():
    gen = torch.Generator().manual_seed(3)
    fwd = torch.randint(0, 7, (11, 4), generator=gen)
    back = torch.randint(0, 11, (7, 3), generator=gen)
    ref = torch.tensor([[i in back[j].tolist() for j in row]
                        for i, row in enumerate(fwd.tolist())])
    assert torch.equal(reciprocal_mask(fwd, back), ref)


def test_camera_rule_keeps_same_camera_cluster_mates():
    # four images of one camera; 0 and 1 share an intra-camera cluster
    feats = dict(
        m=F.normalize(
            torch.tensor([[1.0, 0.0], [0.99, 0.1], [0.98, 0.2], [0.97, 0.3]])))
    cams = dict(m=torch.tensor([5, 5, 5, 7]))
    rn = RegionalNeighbours(num_regions=1, intra_k=(3, 3))
    free = RegionalNeighbours(
        num_regions=1, intra_k=(3, 3), camera_aware=False)
    every = table_as_lists(free(feats).neighbours['m->m'])[0]
    assert 1 in every[0] and 2 in every[0]
    dropped = table_as_lists(rn(feats, cams).neighbours['m->m'])[0]
    assert all(cams['m'][j] != cams['m'][i] for i, row in enumerate(dropped)
               for j in row)
    kept = table_as_lists(
        rn(feats, cams,
           dict(m=torch.tensor([0, 0, -1, 1]))).neighbours['m->m'])[0]
    assert 1 in kept[0] and 0 in kept[1]
    assert 2 not in kept[0] and kept[2] == dropped[2]  # -1 keeps nothing


def test_per_region_sets():
    # region 0: sample 1 is sample 0's twin; region 1: random
    gen = torch.Generator().manual_seed(0)
    feats = torch.randn(30, 2, 8, generator=gen)
    feats[1, 0] = feats[0, 0] + 1e-3
    feats[1, 1] = -feats[0, 1]  # the farthest there
    rn = RegionalNeighbours(num_regions=2, intra_k=(3, 3), camera_aware=False)
    sets = rn(dict(m=feats.flatten(1)))
    lists = table_as_lists(sets.neighbours['m->m'])
    assert lists[0][0][0] == 1 and lists[0][1][0] == 0
    assert 1 not in lists[1][0] and 0 not in lists[1][1]
    merged = sets.merged('m->m')
    assert [j for j in merged[0].tolist()
            if j >= 0] == sorted(set(lists[0][0]) | set(lists[1][0]))


def test_dataset_indices_lookup_and_pseudo_labels():
    feats, cams, labels = random_case(5, n_a=12, n_b=9, regions=2)
    rn = TASK_UTILS.build(
        dict(
            type='RegionalNeighbours',
            num_regions=2,
            intra_k=(5, 3),
            inter_k=(4, 4)))
    plain = rn(feats, cams, labels)
    # the same samples at shuffled, interleaved dataset indices
    perm = dict(a=torch.randperm(12), b=torch.randperm(9))
    idx = dict(a=perm['a'] * 2 + 100, b=perm['b'] * 2 + 101)
    shuffled = rn({m: feats[m][perm[m]]
                   for m in feats}, {m: cams[m][perm[m]]
                                     for m in cams},
                  {m: labels[m][perm[m]]
                   for m in labels}, idx)
    assert torch.equal(shuffled.indices['a'], torch.arange(12) * 2 + 100)
    for key, table in plain.neighbours.items():
        dst = key[-1]
        offset = 100 if dst == 'a' else 101
        mapped = torch.where(table >= 0, table * 2 + offset, table)
        assert torch.equal(shuffled.neighbours[key], mapped)
    got = shuffled.lookup('a->b', torch.tensor([102, 5, 100]))
    assert torch.equal(got[:, 0], shuffled.neighbours['a->b'][:, 1])
    assert (got[:, 1] == -1).all()  # not a sample of 'a'
    # from PseudoLabels: the modality split by modality_ids
    ids = torch.tensor([0] * 12 + [1] * 9)
    pl = PseudoLabels(('a', 'b'),
                      ids,
                      torch.zeros(21),
                      features=torch.cat([feats['a'], feats['b']]))
    from_pl = rn.from_pseudo_labels(pl, torch.cat([cams['a'], cams['b']]),
                                    torch.cat([labels['a'], labels['b']]))
    shift = dict(a=0, b=12)
    for key, table in plain.neighbours.items():
        expect = torch.where(table >= 0, table + shift[key[-1]], table)
        assert torch.equal(from_pl.neighbours[key], expect)


def test_merge_regions_and_errors():
    table = torch.tensor([[[3, 1, -1]], [[1, 4, 2]]])
    assert merge_regions(table).tolist() == [[1, 2, 3, 4]]
    with pytest.raises(ValueError, match='intra_k'):
        RegionalNeighbours(intra_k=(30, 0))
    with pytest.raises(ValueError, match='num_regions'):
        RegionalNeighbours(num_regions=0)
    rn = RegionalNeighbours(num_regions=4)
    with pytest.raises(ValueError, match=r"features\['a'\]"):
        rn(dict(a=torch.randn(5, 6)), dict(a=torch.zeros(5)))
    with pytest.raises(ValueError, match='camids'):
        rn(dict(a=torch.randn(5, 8)))
    with pytest.raises(ValueError, match=r"indices\['a'\]"):
        rn(dict(a=torch.randn(3, 8)),
           dict(a=torch.zeros(3)),
           indices=dict(a=torch.tensor([1, 1, 2])))
    with pytest.raises(ValueError, match='no indices'):
        NeighbourSets({}, {'a->b': torch.zeros(1, 2, 3, dtype=torch.long)})
