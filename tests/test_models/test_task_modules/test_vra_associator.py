"""MCF's VRA associator: region-summed cluster scores, greedy capped
matching."""
import pytest
import torch
import torch.nn.functional as F

from mmvireid.models.task_modules import ClusterSet, VRAAssociator
from mmvireid.models.task_modules.associators.vra_associator import \
    greedy_capped_matching
from mmvireid.models.utils import cluster_centroids
from mmvireid.registry import TASK_UTILS
from mmvireid.structures import PseudoLabels, pair_key
from mmvireid.utils import register_all_modules

register_all_modules()


def brute_greedy(scores, mu):
    """The paper's loop: arg-max of the remaining matrix, again and again."""
    scores = scores.clone().double()
    match = torch.full((scores.size(0), ), -1, dtype=torch.long)
    used = torch.zeros(scores.size(1), dtype=torch.long)
    valid = torch.ones_like(scores, dtype=torch.bool)
    while valid.any():
        flat = torch.where(valid, scores, torch.tensor(-float('inf')))
        best = int(flat.flatten().argmax())  # first maximum on ties
        row, col = divmod(best, scores.size(1))
        match[row] = col
        used[col] += 1
        valid[row] = False
        if used[col] == mu:
            valid[:, col] = False
    return match


def brute_scores(source, destination, num_regions, normalize=True):
    """Σ_regions mean similarity over every instance pair of two
    clusters."""
    out = torch.zeros(
        source.num_clusters, destination.num_clusters, dtype=torch.float64)
    for i in range(source.num_clusters):
        for j in range(destination.num_clusters):
            a = source.features[source.labels == i].double()
            b = destination.features[destination.labels == j].double()
            for r in range(num_regions):
                ar, br = a.chunk(num_regions, 1)[r], b.chunk(num_regions, 1)[r]
                if normalize:
                    ar, br = F.normalize(ar, dim=1), F.normalize(br, dim=1)
                out[i, j] += (ar @ br.t()).mean()
    return out


def cluster_set(feats, labels):
    labels = torch.as_tensor(labels)
    return ClusterSet(feats, labels, cluster_centroids(feats, labels))


def random_set(seed, num, k, dim=12, outlier_rate=0.2):
    gen = torch.Generator().manual_seed(seed)
    feats = torch.randn(num, dim, generator=gen)
    labels = torch.arange(num) % k
    labels[torch.rand(num, generator=gen) < outlier_rate] = -1
    return cluster_set(F.normalize(feats, dim=1), labels)


def test_hand_computed_matching_and_the_cap():
    scores = torch.tensor([[.9, .8], [.85, .1], [.7, .6], [.2, .95]])
    # μ=1: (3,1) .95, (0,0) .9; column 0 and 1 are then full
    assert greedy_capped_matching(scores, 1).tolist() == [0, -1, -1, 1]
    # μ=2: (3,1), (0,0), (1,0) fills column 0, so row 2 takes column 1
    assert greedy_capped_matching(scores, 2).tolist() == [0, 0, 1, 1]
    # all equal: row-major order decides, as argmax's first maximum
    ties = torch.zeros(5, 2)
    assert greedy_capped_matching(ties, 2).tolist() == [0, 0, 1, 1, -1]


@pytest.mark.parametrize('mu', [1, 2, 3])
@pytest.mark.parametrize('shape', [(0, 0), (0, 3), (4, 0), (1, 1), (6, 4),
                                   (9, 2), (3, 7), (13, 3)])
@pytest.mark.parametrize('ties', [False, True])
def test_greedy_equals_repeated_argmax(mu, shape, ties):
    for seed in range(8):
        gen = torch.Generator().manual_seed(seed)
        scores = (
            torch.randint(0, 3, shape, generator=gen).float()
            if ties else torch.randn(shape, generator=gen))
        got = greedy_capped_matching(scores, mu)
        assert torch.equal(got, brute_greedy(scores, mu)), (seed, scores)
        matched = got[got >= 0]
        assert len(matched) == min(shape[0], mu * shape[1])
        if shape[1]:
            assert torch.bincount(matched, minlength=shape[1]).max() <= mu


@pytest.mark.parametrize('num_regions', [1, 2, 4])
def test_scores_are_the_mean_pairwise_region_similarity(num_regions):
    source = random_set(0, 40, 5, dim=12)
    destination = random_set(1, 30, 4, dim=12)
    vra = VRAAssociator(num_regions=num_regions)
    got = vra(source, destination).plan
    assert got.shape == (5, 4)
    torch.testing.assert_close(got.double(),
                               brute_scores(source, destination, num_regions))
    # un-normalised regions: the plain dot, still from the cluster means
    raw = ClusterSet(source.features * torch.linspace(.5, 3., 12),
                     source.labels, source.centroids)
    torch.testing.assert_close(
        VRAAssociator(num_regions,
                      normalize_regions=False).scores(raw,
                                                      destination).double(),
        brute_scores(raw, destination, num_regions, normalize=False))


def test_globally_normalised_concatenation_scores_as_its_regions():
    """Feature extraction normalises the whole concatenation; the
    per-region normalisation undoes it, so the score is the paper's."""
    gen = torch.Generator().manual_seed(4)
    regions = F.normalize(torch.randn(20, 4, 3, generator=gen), dim=2)
    labels = torch.arange(20) % 3
    per_region = cluster_set(regions.flatten(1), labels)
    whole = cluster_set(F.normalize(regions.flatten(1), dim=1), labels)
    vra = VRAAssociator(num_regions=4)
    torch.testing.assert_close(
        vra.scores(whole, whole), vra.scores(per_region, per_region))


def test_every_region_counts_equally():
    """A large-norm region decides a global cosine but not VRA's sum."""
    # region 0 (dims 0-1) of the source points to destination 0, region 1
    # (dims 2-3, tiny) to destination 1 much more strongly
    src = torch.tensor([[10., 1., .01, .0]])
    dst = torch.tensor([[1., 0., -1., 0.], [.8, .6, 1., 0.]])
    source, destination = cluster_set(src, [0]), cluster_set(dst, [0, 1])
    assert VRAAssociator(num_regions=1)(source,
                                        destination).cross_labels.item() == 0
    assert VRAAssociator(num_regions=2)(source,
                                        destination).cross_labels.item() == 1


@pytest.mark.parametrize('mu', [1, 3])
def test_cross_labels_follow_the_cluster_matching(mu):
    source = random_set(2, 50, 8)
    destination = random_set(3, 20, 2)
    out = TASK_UTILS.build(
        dict(type='VRAAssociator', num_regions=3, max_matches=mu))(source,
                                                                   destination)
    match = brute_greedy(out.plan, mu)
    labels = source.labels
    want = torch.where(labels >= 0, match[labels.clamp(min=0)],
                       torch.tensor(-1))
    assert torch.equal(out.cross_labels, want)
    assert out.cross_labels.dtype == torch.long
    assert (out.cross_labels[labels < 0] == -1).all()
    # 8 source clusters, at most 2·μ matched: the rest get -1
    matched = match[match >= 0]
    assert len(matched) == min(8, 2 * mu)


def test_split_clusters_share_their_destination():
    """Two visible clusters of one identity join that identity's IR
    cluster: what uniform merging reads as one shared label."""
    gen = torch.Generator().manual_seed(5)
    protos = F.normalize(torch.randn(4, 2, 8, generator=gen), dim=2)

    def views(ids, noise):
        x = protos[ids] + noise * torch.randn(len(ids), 2, 8, generator=gen)
        return F.normalize(x, dim=2).flatten(1)

    ids_v = torch.arange(80) % 4
    split = (torch.arange(80) // 4) % 2  # identity k -> clusters 2k, 2k+1
    visible = cluster_set(views(ids_v, .2), 2 * ids_v + split)
    ids_r = torch.arange(40) % 4
    infrared = cluster_set(views(ids_r, .2), ids_r)
    vra = VRAAssociator(num_regions=2, max_matches=3)
    v_to_r = vra(visible, infrared).cross_labels
    assert torch.equal(v_to_r, ids_v)
    # the other way round each infrared cluster joins one visible half
    r_to_v = vra(infrared, visible).cross_labels
    assert torch.equal(r_to_v // 2, ids_r)


def test_no_cluster_on_either_side():
    some = random_set(0, 10, 3)
    none = cluster_set(some.features[:4], torch.full((4, ), -1))
    vra = VRAAssociator(num_regions=2)
    out = vra(some, none)
    assert out.cross_labels.tolist() == [-1] * 10
    assert out.plan.shape == (3, 0)
    out = vra(none, some)
    assert out.cross_labels.tolist() == [-1] * 4
    assert out.plan.shape == (0, 3)
    empty = cluster_set(some.features[:0], torch.zeros(0, dtype=torch.long))
    assert vra(empty, some).cross_labels.shape == (0, )
    assert vra(empty, empty).plan.shape == (0, 0)


@pytest.mark.parametrize('kwargs, match', [
    (dict(num_regions=0), 'num_regions must be an int >= 1, got 0'),
    (dict(num_regions=2.0), 'num_regions must be an int >= 1, got 2.0'),
    (dict(max_matches=True), 'max_matches must be an int >= 1, got True'),
    (dict(max_matches=-1), 'max_matches must be an int >= 1, got -1'),
])
def test_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        VRAAssociator(**kwargs)


def test_bad_features():
    some = random_set(0, 10, 3, dim=10)
    with pytest.raises(
            ValueError,
            match='num_regions=4 does not divide the '
            'source feature dimension D=10'):
        VRAAssociator(num_regions=4)(some, some)
    other = random_set(0, 10, 3, dim=12)
    with pytest.raises(
            ValueError,
            match='source features have D=10, '
            'destination features D=12'):
        VRAAssociator(num_regions=2)(some, other)
    bad = ClusterSet(some.features, some.labels + 5, some.centroids)
    with pytest.raises(ValueError, match='destination labels span'):
        VRAAssociator(num_regions=2)(some, bad)
    nan = some.features.clone()
    nan[int(torch.nonzero(some.labels >= 0)[0]), 0] = float('nan')
    with pytest.raises(ValueError, match='non-finite cluster scores'):
        VRAAssociator(num_regions=2)(ClusterSet(nan, some.labels,
                                                some.centroids), some)


def test_through_the_association_hook_and_uniform_merging():
    """Both pairs from the hook; a UM consumer's groups from the labels."""
    from mmvireid.engine.hooks import AssociationHook
    gen = torch.Generator().manual_seed(6)
    num = 90
    ids = (torch.arange(num) % 3 == 0).long()  # a third infrared
    labels = torch.randint(0, 7, (num, ), generator=gen)
    labels[ids == 1] %= 2  # 7 visible, 2 infrared clusters
    labels[torch.rand(num, generator=gen) < .1] = -1
    clusters = PseudoLabels(
        modalities=('visible', 'infrared'),
        modality_ids=ids,
        labels=labels,
        features=F.normalize(torch.randn(num, 8, generator=gen), dim=1))
    hook = AssociationHook(
        associator=dict(type='VRAAssociator', num_regions=4, max_matches=3))
    out = hook.associate(clusters)
    key = pair_key('visible', 'infrared')
    assert out.plans[key].shape == (7, 2)
    assert out.plans[pair_key('infrared', 'visible')].shape == (2, 7)
    # UM: visible cluster -> its infrared cluster, from the cross labels
    visible = out.mask('visible') & (out.labels >= 0)
    table = torch.full((7, ), -1, dtype=torch.long)
    table[out.labels[visible]] = out.cross_labels[key][visible]
    assert sorted(table.tolist()) == [-1, 0, 0, 0, 1, 1, 1]  # 7 > 3·2
    assert torch.equal(table, brute_greedy(out.plans[key], 3))
    # every sample carries at most one cross label (the batch's field)
    _, cross = out.label_table()
    assert torch.equal(cross[visible], table[out.labels[visible]])
