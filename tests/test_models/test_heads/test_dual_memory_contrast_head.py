import pytest
import torch

from mmvireid.models.utils import write_labels
from mmvireid.registry import MODELS
from mmvireid.structures import PseudoLabels, VIReIDDataSample, pair_key
from mmvireid.utils import register_all_modules

register_all_modules()

MODALITIES = ('visible', 'infrared')


def samples(indices, infrared, names=MODALITIES):
    return [
        VIReIDDataSample(metainfo=dict(sample_idx=i, modality=names[int(r)]))
        for i, r in zip(indices, infrared)
    ]


def clusters(modalities=MODALITIES):
    feats = torch.nn.functional.normalize(torch.randn(8, 4), dim=1)
    return PseudoLabels(
        modalities=modalities,
        modality_ids=torch.tensor([0] * 4 + [1] * 4),
        labels=torch.tensor([0, 0, 1, 1, 0, 0, 1, -1]),
        features=feats)


def associated(pl, cross=(1, 1, 0, 0, 0, 0, 1, -1)):
    """``pl`` after an association: cross labels of both directions."""
    cross = torch.tensor(cross)
    first = pl.modality_ids == 0
    none = torch.full_like(cross, -1)
    m0, m1 = pl.modalities
    return pl.with_fields(
        cross_labels={
            pair_key(m0, m1): torch.where(first, cross, none),
            pair_key(m1, m0): torch.where(~first, cross, none)
        })


def labelled(batch, pl):
    """The batch with the labels the model writes (ReIDer.annotate)."""
    write_labels(batch, *pl.label_table())
    return batch


def build(**kwargs):
    cfg = dict(type='DualMemoryContrastHead', feat_dim=4)
    cfg.update(kwargs)
    return MODELS.build(cfg)


def test_intra_then_cross_terms():
    torch.manual_seed(0)
    head = build(memory=dict(temperature=1.0), cross_modal=True)
    assert head.memories[0].temperature == 1.0
    assert head.memories[0].feat_dim == 4
    with pytest.raises(ValueError, match='ClusteringHook'):
        head.loss({'global': None}, samples([0, 4], [False, True]))
    pl = clusters()
    head.set_pseudo_labels(pl)
    assert head.modalities == MODALITIES
    assert [m.num_clusters for m in head.memories] == [2, 2]
    batch = samples([0, 2, 4, 7], [False, False, True, True])
    feats = torch.randn(4, 4, requires_grad=True)
    with pytest.raises(ValueError, match="data sample 0 .* 'pseudo_label'"):
        head.loss({'global': feats}, batch)
    losses = head.loss({'global': feats}, labelled(batch, pl))
    assert list(losses) == [
        'loss_visible', 'loss_cross_visible', 'loss_infrared',
        'loss_cross_infrared'
    ]
    # no association yet: cross terms are zero
    assert losses['loss_cross_visible'].item() == 0
    assert losses['loss_visible'].item() > 0
    pl = associated(pl)
    head.set_pseudo_labels(pl)
    assert [s.cross_label for s in labelled(batch, pl)] == [1, 0, 0, -1]
    before = head.memories[1].prototypes.clone()
    losses = head.loss({'global': feats}, batch)
    assert losses['loss_cross_visible'].item() > 0
    # the second memory moved towards its batch features (incl. those of
    # the first modality through their cross labels)
    assert not torch.equal(before, head.memories[1].prototypes)
    sum(losses.values()).backward()
    # the outlier (index 7) contributes no gradient
    assert feats.grad[3].abs().sum() == 0


def test_loss_config_weights_every_term():
    torch.manual_seed(0)
    pl = associated(clusters())
    feats = torch.randn(4, 4)
    batch = samples([0, 2, 4, 6], [False, False, True, True])
    got = []
    for weight in (1.0, 2.5):
        torch.manual_seed(1)
        head = build(cross_modal=True, loss=dict(loss_weight=weight))
        head.set_pseudo_labels(pl)
        got.append(head.loss({'global': feats}, labelled(batch, pl)))
    for key, value in got[0].items():
        torch.testing.assert_close(got[1][key], 2.5 * value)


def test_modalities_are_data():
    """Loss keys and memories follow the declared modalities, by
    position."""
    torch.manual_seed(1)
    names = ('rgb', 'thermal')
    head = build(cross_modal=True)
    pl = clusters(names)
    head.set_pseudo_labels(associated(pl))
    torch.testing.assert_close(
        head.memories[0].prototypes[0],
        torch.nn.functional.normalize(pl.features[:2].sum(0), dim=0))
    losses = head.loss({'global': torch.randn(2, 4)},
                       labelled(samples([0, 4], [False, True], names), pl))
    assert list(losses) == [
        'loss_rgb', 'loss_cross_rgb', 'loss_thermal', 'loss_cross_thermal'
    ]
    with pytest.raises(ValueError, match="modality 'visible'"):
        head.loss({'global': torch.randn(1, 4)},
                  labelled(samples([0], [False]), pl))


def test_two_modalities_only():
    pl = clusters()
    three = PseudoLabels(
        modalities=('visible', 'infrared', 'augmented'),
        modality_ids=pl.modality_ids,
        labels=pl.labels,
        features=pl.features)
    with pytest.raises(ValueError, match='two-modality head'):
        build().set_pseudo_labels(three)


def test_memories_are_checkpointed_labels_are_not():
    """The head keeps no label copy (labels come with the batch); its
    memories are saved and a restored run keeps them."""
    torch.manual_seed(0)
    head = build()
    head.set_pseudo_labels(clusters())
    state = head.state_dict()
    assert set(state) == {'memories.0.prototypes', 'memories.1.prototypes'}
    fresh = build()
    fresh.load_state_dict(state)
    assert torch.equal(fresh.memories[1].prototypes,
                       head.memories[1].prototypes)
    # labels restored without features (a resume that did not re-extract):
    # the memories loaded from the checkpoint are kept
    restored = PseudoLabels.from_state_dict(
        associated(clusters()).state_dict())
    assert restored.features is None
    fresh.set_pseudo_labels(restored)
    assert torch.equal(fresh.memories[0].prototypes,
                       head.memories[0].prototypes)


def test_three_modalities_one_memory_each():
    """A virtual third modality gets its own memory and loss term."""
    import torch.nn.functional as F

    from mmvireid.models import DualMemoryContrastHead
    from mmvireid.structures import PseudoLabels, VIReIDDataSample
    torch.manual_seed(0)
    names = ('visible', 'infrared', 'augmented')
    head = DualMemoryContrastHead(feat_dim=4, num_modalities=3)
    feats = F.normalize(torch.randn(9, 4), dim=1)
    head.set_pseudo_labels(
        PseudoLabels(
            modalities=names,
            modality_ids=torch.arange(9) // 3,
            labels=torch.tensor([0, 1, 0, 0, 0, 1, 1, 0, -1]),
            features=feats))
    assert [m.num_clusters for m in head.memories] == [2, 2, 2]
    samples = [
        VIReIDDataSample(metainfo=dict(sample_idx=i)).set_identity(
            0, 1, names[i // 3]) for i in range(9)
    ]
    write_labels(samples, torch.tensor([0, 1, 0, 0, 0, 1, 1, 0, -1]),
                 torch.full((9, ), -1))
    losses = head.loss({'global': torch.randn(9, 4, requires_grad=True)},
                       samples)
    assert list(losses) == [f'loss_{m}' for m in names]
    assert all(v > 0 for v in losses.values())
    with pytest.raises(ValueError, match='two modalities'):
        DualMemoryContrastHead(feat_dim=4, num_modalities=3, cross_modal=True)
    with pytest.raises(ValueError, match='num_modalities=3'):
        head.set_pseudo_labels(
            PseudoLabels(
                modalities=names[:2],
                modality_ids=torch.zeros(2, dtype=torch.long),
                labels=torch.zeros(2, dtype=torch.long)))
