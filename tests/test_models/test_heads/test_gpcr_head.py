import pytest
import torch
import torch.nn.functional as F

from mmvireid.models.utils import pair_rows
from mmvireid.registry import MODELS
from mmvireid.structures import PseudoLabels, VIReIDDataSample, pair_key
from mmvireid.utils import register_all_modules

register_all_modules()

MODALITIES = ('visible', 'infrared')


def build(**kwargs):
    cfg = dict(type='GPCRHead', feat_dim=6, k=2, temperature=1.0)
    cfg.update(kwargs)
    return MODELS.build(cfg)


def sample(idx, modality, view=0):
    return VIReIDDataSample(
        metainfo=dict(sample_idx=idx, view=view)).set_identity(0, 1, modality)


def indicator(*entries, dim=6):
    vec = torch.zeros(dim)
    vec[list(entries)] = 1.
    return vec


def global_batch():
    """Rows v0 v1 v2 r0 r1 r2 a0 a2; pair 1 has no CA view."""
    batch = [sample(i, 'visible') for i in range(3)] + \
        [sample(i, 'infrared') for i in range(3, 6)] + \
        [sample(0, 'visible', 1), sample(2, 'visible', 1)]
    feats = torch.stack([
        torch.tensor([3., 2, 0, 0, 0, 0]),  # v0: top-2 {0, 1}
        torch.tensor([0., 0, 0, 3, 2, 0]),  # v1: {3, 4}
        torch.tensor([3., 2, 0, 0, 0, 0]),  # v2: {0, 1}
        torch.tensor([2., 3, 0, 0, 0, 0]),  # r0: {0, 1}
        torch.tensor([0., 0, 0, 0, 2, 3]),  # r1: {4, 5}
        torch.tensor([0., 0, 0, 2, 0, 3]),  # r2: {3, 5}
        torch.tensor([0., 3, 2, 0, 0, 0]),  # a0: {1, 2}
        torch.tensor([0., 0, 3, 2, 0, 0]),  # a2: {2, 3}
    ])
    return batch, feats


def test_global_positives_are_the_cross_modality_intersection():
    head = build()
    head.memories[0].reset(torch.eye(6))
    batch, feats = global_batch()
    pairs = torch.tensor([[0, 6, 3], [1, -1, 4], [2, 7, 5]])
    present = (pairs >= 0).t()
    glob = F.normalize(feats[pairs.clamp(min=0).t()], dim=-1)
    _, shared = head.global_positives(glob @ torch.eye(6), present)
    expected = torch.stack([indicator(1), indicator(4), torch.zeros(6)])
    assert torch.equal(shared, expected.bool())


def test_global_loss_skips_empty_rows_and_an_empty_memory():
    head = build(loss=dict(loss_weight=0.5))
    head.memories[0].reset(torch.eye(6))  # no infrared instance at all
    batch, feats = global_batch()
    feats.requires_grad_(True)
    losses = head.loss({
        'global': feats,
        'pairs': pair_rows(batch, MODALITIES)
    }, batch)
    assert set(losses) == {'loss_global'}
    logp = torch.log_softmax(F.normalize(feats, dim=1), 1)
    # pair 0 (v0, a0, r0) -> {1}; pair 1 (v1, r1) -> {4}; pair 2 empty
    expected = -torch.stack([
        logp[0, 1], logp[6, 1], logp[3, 1], logp[1, 4], logp[4, 4]
    ]).mean() * 0.5
    torch.testing.assert_close(losses['loss_global'], expected)
    losses['loss_global'].backward()
    assert torch.isfinite(feats.grad).all()
    assert feats.grad[[2, 5, 7]].abs().sum() == 0  # the skipped pair


def test_no_positive_at_all_is_a_finite_zero():
    head = build(k=1)
    head.memories[0].reset(torch.eye(6))
    batch = [sample(0, 'visible'), sample(1, 'infrared')]
    feats = torch.stack([indicator(0), indicator(5)]).requires_grad_(True)
    losses = head.loss({
        'global': feats,
        'pairs': pair_rows(batch, MODALITIES)
    }, batch)
    assert losses['loss_global'].item() == 0
    losses['loss_global'].backward()
    assert torch.equal(feats.grad, torch.zeros_like(feats))


SETS = {  # part top-3 sets S[q][t] of pair 0 (all members present)
    0: {0: {0, 1, 2}, 1: {2, 3, 4}, 2: {3, 4, 5}},
    1: {0: {1, 2, 3}, 1: {0, 4, 5}, 2: {0, 1, 5}},
    2: {0: {0, 2, 4}, 1: {1, 3, 5}, 2: {0, 1, 2}},
}
GLOBAL = {0: {0, 2, 4}, 1: {1, 2, 5}, 2: {0, 3, 4}}  # global top-3 sets


def part_inputs():
    aligned = torch.zeros(3, 3, 2, 1, 6)
    for q in range(3):
        for t in range(3):
            aligned[q, t, 0, 0] = indicator(*SETS[q][t])
            if q != 1 and t != 1:  # pair 1 has no CA view
                aligned[q, t, 1, 0] = indicator(*SETS[q][t])
    neighbours = torch.stack(
        [torch.stack([indicator(*GLOBAL[q])] * 2) for q in range(3)]).bool()
    present = torch.tensor([[True, True], [True, False], [True, True]])
    return aligned, neighbours, present


def expected_positives(q, t, m):
    if m == 1 and 1 in (q, t):
        return set()
    others = [o for o in range(3) if o != t and not (m == 1 and o == 1)]
    union = set().union(*(SETS[q][o] for o in others))
    return union & GLOBAL[q]


def test_part_positives_are_the_mutual_correction():
    head = build(k=3, num_parts=1)
    aligned, neighbours, present = part_inputs()
    positives = head.part_positives(aligned @ torch.eye(6), present,
                                    neighbours)
    assert positives.shape == (3, 3, 2, 1, 6)
    for q in range(3):
        for t in range(3):
            for m in range(2):
                got = set(
                    torch.nonzero(positives[q, t, m, 0]).flatten().tolist())
                assert got == expected_positives(q, t, m), (q, t, m)


def test_part_loss_value():
    head = build(k=3, num_parts=1, loss=dict(loss_weight=0.5))
    aligned, _, _ = part_inputs()
    head.memories[0].reset(torch.eye(6), part_features=torch.eye(6)[:, None])
    batch = [
        sample(0, 'visible'),
        sample(1, 'visible'),
        sample(2, 'infrared'),
        sample(3, 'infrared'),
        sample(0, 'visible', 1)
    ]
    # global features whose top-3 sets are GLOBAL (member order v, a, r)
    feats = torch.stack([
        indicator(*GLOBAL[0]),
        indicator(*GLOBAL[0]),
        indicator(*GLOBAL[2]),
        indicator(*GLOBAL[2]),
        indicator(*GLOBAL[1])
    ])
    aligned.requires_grad_(True)
    losses = head.loss(
        {
            'global': feats,
            'pairs': pair_rows(batch, MODALITIES),
            'aligned_parts': aligned
        }, batch)
    logp = torch.log_softmax(F.normalize(aligned, dim=-1), -1)
    terms = []
    for q in range(3):
        for t in range(3):
            for m in range(2):
                pos = sorted(expected_positives(q, t, m))
                if pos:
                    terms.append(-logp[q, t, m, 0, pos].logsumexp(0))
    expected = 0.5 * torch.stack(terms).mean()
    torch.testing.assert_close(losses['loss_part'], expected)
    losses['loss_part'].backward()
    assert torch.isfinite(aligned.grad).all()
    assert aligned.grad[1, :, 1].abs().sum() == 0  # absent CA view


def pseudo_labels(modalities=MODALITIES, associated=True):
    """Samples 0, 1, 4 of the first modality (1 an outlier), 2, 3 of the
    second."""
    torch.manual_seed(0)
    m0, m1 = modalities
    cross = {
        pair_key(m0, m1): torch.tensor([1, -1, -1, -1, 0]),
        pair_key(m1, m0): torch.tensor([-1, -1, 0, 0, -1])
    } if associated else {}
    return PseudoLabels(
        modalities=modalities,
        modality_ids=torch.tensor([0, 0, 1, 1, 0]),
        labels=torch.tensor([0, -1, 1, 0, 0]),
        features=torch.randn(5, 6),
        part_features=torch.randn(5, 2, 3),
        cross_labels=cross)


def test_memories_follow_the_associations():
    head = build(num_parts=2, part_dim=3, memory=dict(momentum_update=True))
    pl = pseudo_labels()
    head.set_pseudo_labels(pl)
    assert head.modalities == MODALITIES
    assert head.memories[0].indices.tolist() == [0, 4]
    assert head.memories[1].indices.tolist() == [2, 3]
    assert head.memories[1].has_parts
    torch.testing.assert_close(head.memories[1].features,
                               F.normalize(pl.features[[2, 3]], dim=1))
    # momentum update of the plain entries of both modalities
    batch = [sample(4, 'visible'), sample(2, 'infrared')]
    before = head.memories[0].features.clone()
    part_feats = torch.randn(3, 3, 1, 2, 3)
    losses = head.loss(
        {
            'global': torch.randn(2, 6),
            'aligned_parts': part_feats
        }, batch)
    assert all(torch.isfinite(v) for v in losses.values())
    assert torch.equal(before[0], head.memories[0].features[0])
    assert not torch.equal(before[1], head.memories[0].features[1])
    # after a new clustering (no association yet) the memories are empty
    head.set_pseudo_labels(pl.with_fields(cross_labels={}))
    assert head.memories[0].num_instances == 0
    assert set(head.state_dict()) == {
        f'memories.{m}.{k}'
        for m in (0, 1)
        for k in ('features', 'part_features', 'indices')
    }
    # labels restored without features: the loaded memories are kept
    head.set_pseudo_labels(pl)
    restored = PseudoLabels.from_state_dict(pl.state_dict())
    head.set_pseudo_labels(restored)
    assert head.memories[0].indices.tolist() == [0, 4]
    with pytest.warns(UserWarning, match='part_features'):
        head.set_pseudo_labels(pl.with_fields(part_features=None))
    assert not head.memories[0].has_parts


def test_modalities_are_data_and_labels_required():
    head = build()
    batch = [sample(0, 'visible'), sample(2, 'infrared')]
    with pytest.raises(ValueError, match='no pseudo-labels'):
        head.loss({'global': torch.randn(2, 6)}, batch)
    names = ('rgb', 'thermal')
    head.set_pseudo_labels(pseudo_labels(names))
    assert head.memories[1].indices.tolist() == [2, 3]
    with pytest.raises(ValueError, match="modality 'visible'"):
        head.loss({'global': torch.randn(2, 6)}, batch)
    for s, name in zip(batch, names):
        s.set_metainfo(dict(modality=name))
    losses = head.loss({'global': torch.randn(2, 6)}, batch)
    assert set(losses) == {'loss_global'}
    with pytest.raises(ValueError, match='two-modality head'):
        head.set_pseudo_labels(
            PseudoLabels(
                modalities=('a', 'b', 'c'),
                modality_ids=torch.tensor([0, 1, 2]),
                labels=torch.zeros(3)))
