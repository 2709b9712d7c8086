"""MCFHead: three-modality intra contrast, PA-CBAM regulariser, MAAL,
then VRA cross contrast and uniform merging."""
import pytest
import torch

from mmvireid.models.utils import write_labels
from mmvireid.registry import MODELS
from mmvireid.structures import (PseudoLabelConsumer, PseudoLabels,
                                 VIReIDDataSample, pair_key)
from mmvireid.utils import register_all_modules

register_all_modules()

MODALITIES = ('visible', 'infrared', 'augmented')
# visible 0..3, infrared 4..7, augmented 8..11 = views of visible 0..3
MODALITY_IDS = torch.tensor([0] * 4 + [1] * 4 + [2] * 4)
VIEW_SOURCES = torch.tensor([-1] * 8 + [0, 1, 2, 3])


def clusters(follow=True) -> PseudoLabels:
    visible = torch.tensor([0, 0, 1, 2])
    augmented = visible if follow else torch.tensor([1, 1, 0, 0])
    return PseudoLabels(
        modalities=MODALITIES,
        modality_ids=MODALITY_IDS,
        labels=torch.cat([visible,
                          torch.tensor([0, 0, 1, -1]), augmented]),
        features=torch.nn.functional.normalize(torch.randn(12, 4), dim=1),
        view_sources=VIEW_SOURCES)


def associated(pl) -> PseudoLabels:
    """Visible clusters 0 and 2 both matched to infrared cluster 1."""
    none = torch.full((12, ), -1)
    v2r, r2v = none.clone(), none.clone()
    v2r[:4] = torch.tensor([1, 1, 0, 1])
    r2v[4:8] = torch.tensor([1, 1, 0, -1])
    return pl.with_fields(cross_labels={
        pair_key('visible', 'infrared'): v2r,
        pair_key('infrared', 'visible'): r2v
    })


def batch(pl, indices=(0, 2, 3, 4, 6, 8, 11)):
    names = [MODALITIES[int(MODALITY_IDS[i])] for i in indices]
    samples = [
        VIReIDDataSample(metainfo=dict(sample_idx=i, modality=m))
        for i, m in zip(indices, names)
    ]
    write_labels(samples, *pl.label_table())
    return samples


def hand_over(head, pl):
    """What ReIDer.set_pseudo_labels does: every consumer gets them."""
    for module in head.modules():
        if isinstance(module, PseudoLabelConsumer):
            module.set_pseudo_labels(pl)


def build(**kwargs):
    cfg = dict(
        type='MCFHead',
        base=dict(type='DualMemoryContrastHead', feat_dim=4, num_modalities=3),
        channel_loss=dict(type='ChannelIdentityLoss', loss_weight=0.1),
        merging=dict(type='UniformMergingLoss'),
        merging_weights=(0.6, 0.4))
    cfg.update(kwargs)
    return MODELS.build(cfg)


def feats(rows=7):
    return {
        'global': torch.randn(rows, 4, requires_grad=True),
        'channel_weights': torch.rand(rows, 6, requires_grad=True)
    }


def test_phase_one_intra_terms_and_the_channel_regulariser():
    torch.manual_seed(0)
    head = build()
    assert head.required_features == ('global', 'channel_weights')
    pl = clusters()
    hand_over(head, pl)
    losses = head.loss(feats(), batch(pl))
    assert list(losses) == [
        'loss_visible', 'loss_infrared', 'loss_augmented', 'loss_channel'
    ]
    # the views follow their sources: they share the visible label space
    assert head._spaces.tolist() == [0, 1, 0]
    hand_over(head, clusters(follow=False))
    assert head._spaces.tolist() == [0, 1, 2]


def test_the_channel_regulariser_pairs_views_with_their_sources():
    torch.manual_seed(0)
    head = build()
    pl = clusters()
    hand_over(head, pl)
    # rows: visible 0 and its view 8 (same cluster 0, same space); an
    # infrared cluster-0 row (another space: not a positive pair)
    f = feats(3)
    samples = batch(pl, (0, 8, 4))
    got = head.loss(f, samples)['loss_channel']
    want = head.channel_loss(f['channel_weights'], torch.tensor([0, 0, 0]),
                             torch.tensor([0, 0, 1]))
    torch.testing.assert_close(got, want)


def test_phase_two_cross_contrast_and_alternating_merging():
    torch.manual_seed(0)
    head = build(cross_weight=0.4)
    pl = associated(clusters())
    hand_over(head, pl)
    # visible clusters 0 and 2 -> infrared 1, cluster 1 -> infrared 0
    assert head._groups[0].tolist() == [1, 0, 1]
    assert head._groups[1].tolist() == [1, 0]
    f, samples = feats(), batch(pl)
    # the cross term: visible rows (batch rows of visible 0, 2, 3) against
    # the infrared memory as it is before the batch's updates, weighted
    want = 0.4 * head.base.loss_fn(
        torch.nn.functional.normalize(f['global'], dim=1)[:3],
        torch.tensor([1, 0, 1]), head.base.memories[1])
    head.set_progress(0, 10)
    even = head.loss(f, samples)
    torch.testing.assert_close(even['loss_cross_visible'], want)
    assert {'loss_cross_visible', 'loss_cross_infrared',
            'loss_merge_visible'} <= set(even)
    assert even['loss_merge_visible'] > 0
    assert 'loss_merge_infrared' not in even  # its turn: the odd epochs
    head.set_progress(1, 10)
    odd = head.loss(f, samples)
    assert 'loss_merge_visible' not in odd and odd['loss_merge_infrared'] > 0


def test_maal_needs_the_adversarial_step():
    head = build(adversary=dict(type='ModalityAdversary', feat_dim=4))
    pl = clusters()
    hand_over(head, pl)
    with pytest.raises(ValueError, match='own optimiser'):
        head.loss(feats(), batch(pl))
    head._adversarial_step = True
    assert 'loss_modality_align' in head.loss(feats(), batch(pl))


def test_bad_settings_are_refused():
    with pytest.raises(ValueError, match='cross_modal=False'):
        build(
            base=dict(
                type='DualMemoryContrastHead', feat_dim=4, cross_modal=True))
    with pytest.raises(ValueError, match='cross_pair'):
        build(cross_pair=(1, 1))
    head = build(cross_pair=(0, 3))
    with pytest.raises(ValueError, match='cross_pair=\\(0, 3\\)'):
        hand_over(head, clusters())
