import copy
import math

import pytest
import torch
import torch.nn.functional as F

from mmvireid.models.utils import write_labels
from mmvireid.models.utils.stripe_attention import (sigmoid_part_queries,
                                                    stripe_masks)
from mmvireid.registry import MODELS
from mmvireid.structures import PseudoLabels, VIReIDDataSample, pair_key
from mmvireid.utils import register_all_modules

register_all_modules()

STRIPES = [[0, 1], [2], [3]]  # tensor_split of H=4 rows into 3 parts


def build(**kwargs):
    cfg = dict(type='FGSALHead', in_channels=2, num_parts=3, with_bn=False)
    cfg.update(kwargs)
    return MODELS.build(cfg)


def stripe(feat_map, p):
    """(m, C) pixels of stripe p of a (C, H, W) map."""
    return feat_map[:, STRIPES[p], :].reshape(feat_map.size(0), -1).t()


def hand_query(head, feat_map, p):
    x = stripe(feat_map, p)
    a = torch.sigmoid(x @ head.part_prototypes[p])
    return (a[:, None] * x).sum(0) / a.sum()


def hand_attend(query, feat_map, p):
    x = stripe(feat_map, p)
    attn = torch.softmax(x @ query / math.sqrt(x.size(1)), 0)
    return attn @ x


def sample(idx, modality, view=0):
    return VIReIDDataSample(
        metainfo=dict(sample_idx=idx, view=view)).set_identity(0, 1, modality)


def labelled(batch, pl):
    """The batch with the labels the model writes (ReIDer.annotate)."""
    write_labels(batch, *pl.label_table())
    return batch


def paired_batch():
    # rows: v0, v1, r0, r1, a0, a1 -> pairs (0, 4, 2), (1, 5, 3)
    return [
        sample(0, 'visible'),
        sample(1, 'visible'),
        sample(2, 'infrared'),
        sample(3, 'infrared'),
        sample(0, 'visible', 1),
        sample(1, 'visible', 1)
    ]


def association(num_parts=3, channels=2, modalities=('visible', 'infrared')):
    """Pseudo-labels after an association: samples 0, 1 of the first
    modality, 2, 3 of the second."""
    part_feats = F.normalize(torch.randn(4, num_parts, channels), dim=-1)
    m0, m1 = modalities
    return PseudoLabels(
        modalities=modalities,
        modality_ids=torch.tensor([0, 0, 1, 1]),
        labels=torch.tensor([0, 1, 0, 1]),
        cross_labels={
            pair_key(m0, m1): torch.tensor([1, 0, -1, -1]),
            pair_key(m1, m0): torch.tensor([-1, -1, 0, 1])
        },
        features=F.normalize(torch.randn(4, 5), dim=1),
        part_features=part_feats)


def clustering(pl):
    """The same labels before the association."""
    return pl.with_fields(cross_labels={})


def test_query_and_attention_equal_hand_computation():
    torch.manual_seed(0)
    head = build()
    feat_map = torch.randn(2, 2, 4, 3)
    feats = head.part_features(feat_map)
    assert feats.shape == (2, 3, 2)
    pixels = feat_map.flatten(2).transpose(1, 2)
    queries = sigmoid_part_queries(pixels, head.part_prototypes,
                                   stripe_masks(3, 4, 3, 'cpu'))
    for b in range(2):
        for p in range(3):
            q = hand_query(head, feat_map[b], p)
            torch.testing.assert_close(queries[b, p], q)
            torch.testing.assert_close(feats[b, p],
                                       hand_attend(q, feat_map[b], p))


def test_height_smaller_than_parts_raises():
    with pytest.raises(ValueError, match='stripes'):
        build().part_features(torch.randn(1, 2, 2, 3))


def test_aligned_features_of_every_member_combination():
    torch.manual_seed(1)
    head = build()
    feat_maps = torch.randn(6, 2, 4, 3)
    pairs = torch.tensor([[0, 4, 2], [1, -1, 3]])
    aligned, present = head.aligned_features(feat_maps, pairs)
    assert aligned.shape == (3, 3, 2, 3, 2)
    assert present.tolist() == [[True, True], [True, False], [True, True]]
    for m in range(2):
        for q in range(3):
            for t in range(3):
                if pairs[m, q] < 0 or pairs[m, t] < 0:
                    assert aligned[q, t, m].abs().sum() == 0
                    continue
                for p in range(3):
                    query = hand_query(head, feat_maps[pairs[m, q]], p)
                    torch.testing.assert_close(
                        aligned[q, t, m, p],
                        hand_attend(query, feat_maps[pairs[m, t]], p))


def test_memories_reset_from_part_centroids():
    torch.manual_seed(2)
    head = build()
    pl = association()
    assert sorted(head.memories) == ['0_0', '0_1', '1_0', '1_1']
    head.set_pseudo_labels(pl)
    assert head.modalities == ('visible', 'infrared')
    assert [s.cross_label
            for s in labelled(paired_batch(), pl)] == [1, 0, 0, 1, 1, 0]
    parts = pl.part_features
    for query in (0, 1):
        for space, rows in ((0, [0, 1]), (1, [2, 3])):
            protos = head.memory(query, space).prototypes
            assert protos.shape == (3, 2, 2)
            for k, row in enumerate(rows):  # one image per cluster
                torch.testing.assert_close(protos[:, k], parts[row])
    assert head.has_associations
    head.set_pseudo_labels(clustering(pl))
    assert not head.has_associations
    assert all(m.num_clusters == 0 for m in head.memories.values())
    shared = build(query_specific_memories=False)
    assert sorted(shared.memories) == ['0', '1']
    shared.set_pseudo_labels(pl)
    assert shared.memory(1, 0) is shared.memory(0, 0)
    assert shared.memory(0, 1).num_clusters == 2
    with pytest.raises(ValueError, match='part_features'):
        head.set_pseudo_labels(pl.with_fields(part_features=None))
    with pytest.raises(ValueError, match='two-modality head'):
        head.set_pseudo_labels(
            PseudoLabels(
                modalities=('visible', ),
                modality_ids=torch.zeros(4),
                labels=pl.labels))


def test_loss_uses_all_nine_features_and_the_weight():
    torch.manual_seed(3)
    head = build(memory=dict(temperature=0.5))
    assert head.memory(1, 0).temperature == 0.5
    pl = association()
    head.set_pseudo_labels(pl)
    feat_maps = torch.randn(6, 2, 4, 3, requires_grad=True)
    batch = labelled(paired_batch(), pl)
    pairs = torch.tensor([[0, 4, 2], [1, 5, 3]])
    lab_v, cross_v = torch.tensor([0, 1]), torch.tensor([1, 0])
    lab_r, cross_r = torch.tensor([0, 1]), torch.tensor([0, 1])

    def feature(m, q, t):
        fmq, fmt = feat_maps[pairs[m, q]], feat_maps[pairs[m, t]]
        return torch.stack(
            [hand_attend(hand_query(head, fmq, p), fmt, p) for p in range(3)])

    # the visible queries: v and a over v, a, r -- incl. f^{ra}
    # (query of the CA view over the infrared map), absent from the
    # reference's loss
    vis = [(m, q, t) for q in (0, 1) for t in range(3) for m in range(2)]
    ir = [(m, 2, t) for t in range(3) for m in range(2)]
    f_v = torch.stack([feature(*c) for c in vis])
    f_r = torch.stack([feature(*c) for c in ir])
    y_v = torch.tensor([c[0] for c in vis])
    y_r = torch.tensor([c[0] for c in ir])
    loss = head.loss_fn
    expected_v = loss(f_v, lab_v[y_v], head.memory(0, 0)) + \
        loss(f_v, cross_v[y_v], head.memory(0, 1))
    expected_r = loss(f_r, cross_r[y_r], head.memory(1, 0)) \
        + loss(f_r, lab_r[y_r], head.memory(1, 1))
    weighted = copy.deepcopy(head)
    weighted.loss_fn.loss_weight = 2.5
    before = head.memory(0, 0).prototypes.clone()
    losses = head.loss({'map': feat_maps}, batch)
    torch.testing.assert_close(losses['loss_visible'], expected_v)
    torch.testing.assert_close(losses['loss_infrared'], expected_r)
    # the memories moved after the loss
    assert not torch.equal(before, head.memory(0, 0).prototypes)
    w_losses = weighted.loss({'map': feat_maps}, batch)
    torch.testing.assert_close(w_losses['loss_visible'],
                               2.5 * expected_v.detach())
    torch.testing.assert_close(w_losses['loss_infrared'],
                               2.5 * expected_r.detach())
    sum(losses.values()).backward()
    grad = feat_maps.grad
    assert torch.isfinite(grad).all()
    assert (grad.abs().sum((1, 2, 3)) > 0).all()  # CA rows 4, 5 included
    assert torch.isfinite(head.part_prototypes.grad).all()


def test_no_association_or_pair_gives_zero():
    torch.manual_seed(4)
    head = build(with_bn=True)
    pl = clustering(association())
    head.set_pseudo_labels(pl)
    feat_maps = torch.randn(6, 2, 4, 3, requires_grad=True)
    losses = head.loss({'map': feat_maps}, labelled(paired_batch(), pl))
    assert all(v.item() == 0 for v in losses.values())
    # visible only
    losses = head.loss({'map': feat_maps}, labelled(paired_batch()[:2], pl))
    assert all(v.item() == 0 for v in losses.values())
    sum(losses.values()).backward()


def test_reset_parameters_and_checkpoint():
    torch.manual_seed(5)
    head = build(with_bn=True)
    torch.manual_seed(6)
    head.reset_parameters()
    first = head.part_prototypes.detach().clone()
    head.bn.running_mean.fill_(3.)
    torch.manual_seed(6)
    head.reset_parameters()
    assert torch.equal(first, head.part_prototypes)
    assert head.bn.running_mean.abs().sum() == 0
    assert not head.bn.bias.requires_grad
    head.set_pseudo_labels(association())
    fresh = build(with_bn=True)
    assert not any('label' in key for key in head.state_dict())
    fresh.load_state_dict(head.state_dict())
    assert fresh.memory(1, 0).num_clusters == 2
    # labels restored without features: the loaded memories are kept
    restored = PseudoLabels.from_state_dict(association().state_dict())
    fresh.set_pseudo_labels(restored)
    assert torch.equal(
        fresh.memory(1, 0).prototypes,
        head.memory(1, 0).prototypes)


def test_modalities_are_data_and_labels_required():
    torch.manual_seed(7)
    head = build()
    feat_maps = torch.randn(6, 2, 4, 3)
    with pytest.raises(ValueError, match='no pseudo-labels'):
        head.loss({'map': feat_maps}, paired_batch())
    pl = association(modalities=('rgb', 'thermal'))
    head.set_pseudo_labels(pl)
    names = dict(visible='rgb', infrared='thermal')
    batch = paired_batch()
    for s in batch:
        s.set_metainfo(dict(modality=names[s.modality]))
    with pytest.raises(ValueError, match="no 'pseudo_label'"):
        head.loss({'map': feat_maps}, batch)
    losses = head.loss({'map': feat_maps}, labelled(batch, pl))
    assert list(losses) == ['loss_rgb', 'loss_thermal']
    assert losses['loss_rgb'] > 0
    with pytest.raises(ValueError, match="modality 'visible'"):
        head.loss({'map': feat_maps}, paired_batch())


def test_switch_stage_reinitialises_at_its_stages_only():
    torch.manual_seed(8)
    head = build(with_bn=True, reset_stages=('cross', ))
    before = head.part_prototypes.detach().clone()
    head.switch_stage('intra')
    assert torch.equal(head.part_prototypes, before)
    head.bn.running_mean.fill_(2.)
    head.switch_stage('cross')
    assert not torch.equal(head.part_prototypes, before)
    assert head.bn.running_mean.abs().sum() == 0
    assert head.provided_features == ('parts', )
    feat_map = torch.randn(2, 2, 4, 3)
    torch.testing.assert_close(
        head.provide_feature('parts', {'map': feat_map}),
        head.part_features(feat_map))
