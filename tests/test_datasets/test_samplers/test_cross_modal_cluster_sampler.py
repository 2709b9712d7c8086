import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from mmvireid.datasets import DrawnIndex, drawn_ids
from mmvireid.registry import DATA_SAMPLERS
from mmvireid.structures.pseudo_labels import PseudoLabels, pair_key
from mmvireid.utils import register_all_modules

register_all_modules()

VI_IR = ('visible', 'infrared')


class ToyDataset:
    """Only what the sampler reads: a length and the declared modalities."""

    def __init__(self, size=20, modalities=VI_IR):
        self.size = size
        self.metainfo = dict(modalities=modalities)

    def __len__(self):
        return self.size


def toy_labels():
    # 0..11 visible, 12..19 infrared
    infrared = np.array([False] * 12 + [True] * 8)
    labels = np.array(
        [0, 0, 0, 1, 1, 1, 2, 2, -1, 3, 3, 3, 0, 0, 1, 1, 1, -1, 2, 2])
    # cross labels: visible -> IR cluster, IR -> visible cluster
    cross = np.array(
        [1, 1, 1, 0, 0, -1, 2, 2, -1, -1, -1, -1, 1, 1, 0, 0, 0, -1, 2, 2])
    return infrared, labels, cross


def toy_pl(associated=False, labels=None):
    infrared, toy, cross = toy_labels()
    labels = toy if labels is None else labels
    cross_labels = {}
    if associated:
        cross_labels = {
            pair_key('visible', 'infrared'):
            torch.from_numpy(np.where(~infrared, cross, -1)),
            pair_key('infrared', 'visible'):
            torch.from_numpy(np.where(infrared, cross, -1)),
        }
    return PseudoLabels(
        modalities=VI_IR,
        modality_ids=torch.from_numpy(infrared.astype(np.int64)),
        labels=torch.from_numpy(labels),
        cross_labels=cross_labels)


def build(dataset=None, **kwargs):
    cfg = dict(
        type='CrossModalClusterSampler',
        dataset=ToyDataset() if dataset is None else dataset,
        num_clusters=2,
        num_instances=3,
        iters_per_epoch=5,
        seed=0)
    cfg.update(kwargs)
    return DATA_SAMPLERS.build(cfg)


def test_intra_batches():
    sampler = build()
    infrared, labels, _ = toy_labels()
    sampler.set_pseudo_labels(toy_pl())
    indices = np.array(list(sampler))
    assert sampler.batch_size == 12
    assert len(indices) == len(sampler) == 5 * 12
    for batch in indices.reshape(5, 12):
        vis, ir = batch[:6], batch[6:]
        assert not infrared[vis].any() and infrared[ir].all()
        for block in (vis[:3], vis[3:], ir[:3], ir[3:]):
            assert len(set(labels[block])) == 1 and labels[block[0]] >= 0


def test_intra_ignores_cross_labels():
    plain, crossed = build(), build()
    plain.set_pseudo_labels(toy_pl())
    crossed.set_pseudo_labels(toy_pl(associated=True))
    assert list(plain) == list(crossed)


def test_three_modalities_in_declared_order():
    # a channel-augmented view tagged as a third modality, declared second
    modalities = ('visible', 'augmented', 'infrared')
    # 0..5 visible (2 clusters), 6..11 augmented (3), 12..17 infrared (2)
    ids = np.repeat([0, 1, 2], 6)
    labels = np.array([0, 0, 0, 1, 1, 1, 0, 0, 1, 1, 2, 2, 0, 0, 0, -1, 1, 1])
    pl = PseudoLabels(modalities=modalities, modality_ids=ids, labels=labels)
    sampler = build(ToyDataset(18, modalities), num_instances=2)
    sampler.set_pseudo_labels(pl)
    assert sampler.batch_size == 3 * 2 * 2 == 12
    indices = np.array(list(sampler))
    assert len(indices) == len(sampler) == 5 * 12
    for batch in indices.reshape(5, 12):
        for position, block in enumerate(batch.reshape(6, 2)):
            # blocks 0-1 visible, 2-3 augmented, 4-5 infrared
            assert (ids[block] == position // 2).all()
            assert len(set(labels[block])) == 1 and labels[block[0]] >= 0
    # every modality's clusters are drawn, not one modality's only
    assert set(zip(ids[indices],
                   labels[indices])) == {(m, c)
                                         for m, c in zip(ids, labels)
                                         if c >= 0}


def test_paired_positions_share_a_pseudo_identity():
    sampler = build(mode='paired')
    infrared, labels, cross = toy_labels()
    sampler.set_pseudo_labels(toy_pl(associated=True))
    assert sampler.batch_size == 12
    for batch in np.array(list(sampler)).reshape(5, 12):
        vis, ir = batch[:6], batch[6:]
        assert not infrared[vis].any() and infrared[ir].all()
        # first half: anchored in a visible cluster c: IR images joined c
        assert len(set(labels[vis[:3]])) == 1
        assert set(cross[ir[:3]]) == set(labels[vis[:3]])
        # second half: anchored in an IR cluster c': visible images joined c'
        assert len(set(labels[ir[3:]])) == 1
        assert set(cross[vis[3:]]) == set(labels[ir[3:]])


def test_paired_pairs_the_first_two_modalities():
    # a third declared modality changes neither the paired draws nor the
    # paired batch size: visible half then infrared half, as with two
    infrared, labels, cross = toy_labels()
    modalities = VI_IR + ('augmented', )
    ids = np.concatenate([infrared.astype(np.int64), [2, 2, 2]])
    extra = np.array([0, 0, -1])
    pad = np.full(3, -1)
    pl = PseudoLabels(
        modalities=modalities,
        modality_ids=ids,
        labels=np.concatenate([labels, extra]),
        cross_labels={
            pair_key('visible', 'infrared'):
            torch.from_numpy(
                np.concatenate([np.where(~infrared, cross, -1), pad])),
            pair_key('infrared', 'visible'):
            torch.from_numpy(
                np.concatenate([np.where(infrared, cross, -1), pad])),
        })
    three = build(ToyDataset(23, modalities), mode='paired')
    three.set_pseudo_labels(pl)
    two = build(mode='paired')
    two.set_pseudo_labels(toy_pl(associated=True))
    assert three.batch_size == two.batch_size == 12
    assert list(three) == list(two)
    three.mode = 'intra'
    assert three.batch_size == 18


def test_paired_waits_for_the_association():
    # the clustering call (no cross labels) comes first, then association
    sampler = build(mode='paired')
    sampler.set_pseudo_labels(toy_pl())
    with pytest.raises(RuntimeError, match='no cross-modal association'):
        list(sampler)
    sampler.set_pseudo_labels(toy_pl(associated=True))
    draws = list(sampler)
    assert len(draws) == len(sampler)
    # the next epoch's clustering drops the stale association
    sampler.set_pseudo_labels(toy_pl())
    with pytest.raises(RuntimeError, match='set_pseudo_labels'):
        list(sampler)
    # one direction only
    pl = toy_pl(associated=True)
    del pl.cross_labels[pair_key('infrared', 'visible')]
    sampler.set_pseudo_labels(pl)
    with pytest.raises(RuntimeError, match="missing 'infrared->visible'"):
        list(sampler)


def test_mode_switch_after_the_labels():
    sampler = build()
    sampler.set_pseudo_labels(toy_pl(associated=True))
    sampler.mode = 'paired'  # what StageSwitchHook does
    paired = build(mode='paired')
    paired.set_pseudo_labels(toy_pl(associated=True))
    assert list(sampler) == list(paired)
    with pytest.raises(ValueError, match='mode must be'):
        sampler.mode = 'cross'


def test_epochs_and_ranks_draw_differently():
    sampler = build()
    sampler.set_pseudo_labels(toy_pl())
    first = list(sampler)
    assert first == list(sampler)
    sampler.set_epoch(1)
    assert first != list(sampler)
    other_rank = build()
    other_rank.rank = 1
    other_rank.set_pseudo_labels(toy_pl())
    assert first != list(other_rank)


def test_batch_size_and_its_check():
    sampler = build(num_clusters=4, num_instances=3)
    # known from the dataset's declared modalities, before any label
    assert sampler.batch_size == 24 and len(sampler) == 5 * 24
    sampler.check_batch_size(24)
    with pytest.raises(ValueError) as error:
        sampler.check_batch_size(32)
    message = str(error.value)
    assert 'batch_size=32' in message and '24 images' in message
    assert 'set train_dataloader.batch_size=24' in message
    # a dataset that declares nothing: known once labels arrive
    bare = build(list(range(20)))
    with pytest.raises(RuntimeError, match='declared modalities'):
        bare.batch_size
    bare.set_pseudo_labels(toy_pl())
    assert bare.batch_size == 12
    # a mode switch that changes the batch size is caught at __iter__
    modalities = ('visible', 'infrared', 'augmented')
    ids = np.repeat([0, 1, 2], 4)
    labels = np.array([0, 0, 1, 1] * 3)
    three = build(ToyDataset(12, modalities), num_instances=2)
    three.set_pseudo_labels(
        PseudoLabels(modalities=modalities, modality_ids=ids, labels=labels))
    three.check_batch_size(12)
    three.mode = 'paired'
    with pytest.raises(ValueError, match='batch_size=8'):
        list(three)


def test_a_modality_without_clusters():
    infrared, labels, _ = toy_labels()
    # only outliers
    with pytest.raises(
            ValueError,
            match="no 'infrared' cluster: all 8 'infrared' "
            'images are outliers'):
        build().set_pseudo_labels(
            toy_pl(labels=np.where(infrared, -1, labels)))
    # no sample at all: the message does not blame the clustering
    pl = PseudoLabels(
        modalities=VI_IR, modality_ids=np.zeros(20), labels=labels)
    with pytest.raises(ValueError, match="no 'infrared' sample") as error:
        build().set_pseudo_labels(pl)
    assert 'eps' not in str(error.value)
    # a third modality that is never drawn in paired mode may be empty
    modalities = VI_IR + ('augmented', )
    paired = build(ToyDataset(20, modalities), mode='paired')
    pl = toy_pl(associated=True)
    paired.set_pseudo_labels(pl.with_fields(modalities=modalities))
    assert len(list(paired)) == len(paired)
    # ... but switching to intra mode draws it: caught at __iter__
    paired.mode = 'intra'
    with pytest.raises(ValueError, match="no 'augmented' sample"):
        list(paired)


def test_errors():
    sampler = build()
    with pytest.raises(RuntimeError, match='set_pseudo_labels'):
        list(sampler)
    infrared, labels, _ = toy_labels()
    with pytest.raises(ValueError, match='20 samples'):
        sampler.set_pseudo_labels(
            PseudoLabels(
                modalities=VI_IR, modality_ids=infrared[:5],
                labels=labels[:5]))
    with pytest.raises(ValueError, match='dataset declares'):
        sampler.set_pseudo_labels(
            toy_pl().with_fields(modalities=('infrared', 'visible')))
    paired = build(mode='paired')
    pl = toy_pl(associated=True)
    paired.set_pseudo_labels(
        pl.with_fields(cross_labels={
            k: torch.full_like(v, -1)
            for k, v in pl.cross_labels.items()
        }))
    with pytest.raises(ValueError, match='association found nothing'):
        list(paired)
    with pytest.raises(ValueError, match='even'):
        build(mode='paired', num_clusters=3)
    with pytest.raises(ValueError, match='pairs two modalities'):
        build(ToyDataset(20, ('visible', )), mode='paired')


def test_draws_replay_the_two_modality_algorithm():
    # The index stream is pinned to the draw order of the two-modality
    # sampler this one replaced (checked against it index by index when the
    # sampler moved to PseudoLabels): one generator seeded with
    # [seed, epoch, rank, world_size]; per batch, per modality in declared
    # order, `choice` of P sorted cluster ids, then `choice` of K members
    # (each cluster's members in dataset order) per cluster.
    infrared, labels, cross = toy_labels()
    rank, world_size = build().rank, build().world_size

    def members(values, mask):
        return {
            c: np.flatnonzero(mask & (values == c))
            for c in sorted(set(values[mask & (values >= 0)]))
        }

    def pick(rng, groups, count):
        keys = np.array(sorted(groups))
        return rng.choice(keys, count, replace=len(keys) < count).tolist()

    def take(rng, group):
        return rng.choice(group, 3, replace=len(group) < 3)

    sampler = build()
    sampler.set_epoch(2)
    sampler.set_pseudo_labels(toy_pl())
    rng = np.random.default_rng([0, 2, rank, world_size])
    expected = []
    for _ in range(5):
        for mask in (~infrared, infrared):
            groups = members(labels, mask)
            for c in pick(rng, groups, 2):
                expected += take(rng, groups[c]).tolist()
    assert list(sampler) == expected

    # paired: visible-anchored pseudo-identities, then infrared-anchored
    sampler = build(mode='paired')
    sampler.set_pseudo_labels(toy_pl(associated=True))
    rng = np.random.default_rng([0, 0, rank, world_size])
    expected = []
    for _ in range(5):
        halves = ([], [])
        for anchor in ('visible', 'infrared'):
            own = infrared if anchor == 'infrared' else ~infrared
            groups, joined = members(labels, own), members(cross, ~own)
            paired = {c: m for c, m in groups.items() if c in joined}
            for c in pick(rng, paired, 1):
                parts = (take(rng, paired[c]), take(rng, joined[c]))
                if anchor == 'visible':
                    halves[0].append(parts[0])
                    halves[1].append(parts[1])
                else:
                    halves[0].append(parts[1])
                    halves[1].append(parts[0])
        expected += np.concatenate(halves[0] + halves[1]).tolist()
    assert list(sampler) == expected


def ids_of(draws):
    """``(indices, group ids, pair ids)`` arrays of the drawn indices."""
    assert all(type(i) is DrawnIndex for i in draws)
    return (np.array([int(i)
                      for i in draws]), np.array([i.group_id for i in draws]),
            np.array([i.pair_id for i in draws]))


def test_intra_draws_carry_block_ids():
    sampler = build()
    infrared, labels, _ = toy_labels()
    sampler.set_pseudo_labels(toy_pl())
    indices, groups, pairs = ids_of(list(sampler))
    # 2 modalities x P=2 blocks of K=3, numbered in batch order
    assert groups.reshape(
        5, 12).tolist() == [[0, 0, 0, 1, 1, 1, 2, 2, 2, 3, 3, 3]] * 5
    assert (pairs == -1).all()
    # a block id names one cluster of one modality
    for batch, ids in zip(indices.reshape(5, 12), groups.reshape(5, 12)):
        for g in range(4):
            members = batch[ids == g]
            assert len(set(labels[members])) == 1
            assert len(set(infrared[members])) == 1


def test_paired_draws_carry_pair_ids():
    sampler = build(mode='paired', num_clusters=4, num_instances=3)
    infrared, labels, cross = toy_labels()
    sampler.set_pseudo_labels(toy_pl(associated=True))
    indices, groups, pairs = ids_of(list(sampler))
    size = sampler.batch_size
    assert size == 24
    for batch, g, p in zip(
            indices.reshape(5, size), groups.reshape(5, size),
            pairs.reshape(5, size)):
        # each half: pair ids 0..11 in order, groups 0..3 of K=3
        assert p.tolist() == list(range(12)) * 2
        assert g.tolist() == [0, 0, 0, 1, 1, 1, 2, 2, 2, 3, 3, 3] * 2
        vis, ir = batch[:12], batch[12:]
        assert not infrared[vis].any() and infrared[ir].all()
        # the pair ids pair an image with one of its pseudo-identity:
        # groups 0-1 anchored in visible clusters, 2-3 in infrared ones
        for j in range(12):
            v, r = vis[p[:12] == j][0], ir[p[12:] == j][0]
            if g[j] < 2:
                assert labels[v] == cross[r] >= 0
            else:
                assert labels[r] == cross[v] >= 0
    # the toy clusters have 2 or 3 members for K=3: some slots repeat an
    # image, with their own pair ids
    assert len(set(indices[:12].tolist())) < 12


class IdDataset(ToyDataset):
    """Returns what a DataLoader worker received for each index."""

    def __getitem__(self, idx):
        return dict(index=int(idx), type=type(idx).__name__, **drawn_ids(idx))


def test_ids_reach_dataloader_workers():
    dataset = IdDataset()
    sampler = build(dataset, mode='paired')
    sampler.set_pseudo_labels(toy_pl(associated=True))
    loader = DataLoader(
        dataset,
        batch_size=sampler.batch_size,
        sampler=sampler,
        num_workers=2,
        collate_fn=list)
    got = [item for batch in loader for item in batch]
    expected = list(sampler)
    assert [g['index'] for g in got] == expected
    assert {g['type'] for g in got} == {'DrawnIndex'}
    assert [(g['group_id'], g['pair_id'])
            for g in got] == [(i.group_id, i.pair_id) for i in expected]


@pytest.mark.parametrize('key,value', [('iters_per_epoch', 0),
                                       ('num_instances', 0),
                                       ('num_clusters', -2),
                                       ('iters_per_epoch', 2.5)])
def test_sizes_below_one_are_refused_when_built(key, value):
    """iters_per_epoch=0 used to train nothing and still report metrics
    (issue #10, row 4)."""
    with pytest.raises(
            ValueError,
            match=rf'{key} must be an int >= 1, got {value!r} '
            rf'\(train_dataloader\.sampler\.{key}\)'):
        build(**{key: value})
