import copy

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F
from mmengine.model import BaseModel, BaseModule
from mmengine.optim import (OptimWrapper, OptimWrapperDict,
                            build_optim_wrapper)

from mmvireid.models.utils import adversarial_train_step
from mmvireid.registry import MODELS
from mmvireid.structures import PseudoLabels, VIReIDDataSample
from mmvireid.utils import register_all_modules
from tiny_models import TINY_BACKBONE

register_all_modules()

MODALITIES = ('visible', 'infrared')


@MODELS.register_module(force=True)
class ToyAdversaryHead(BaseModule):
    """An identity classifier and a modality adversary, trained jointly."""

    def __init__(self, in_channels: int = 64, num_classes: int = 2) -> None:
        super().__init__()
        self.classifier = nn.Linear(in_channels, num_classes)
        self.adversary = nn.Linear(in_channels, len(MODALITIES))

    @staticmethod
    def targets(data_samples):
        pids = torch.tensor([s.pid for s in data_samples])
        modality = torch.tensor(
            [MODALITIES.index(s.modality) for s in data_samples])
        return pids, modality

    def loss(self, feats, data_samples):
        pids, modality = self.targets(data_samples)
        x = feats['global']
        return dict(
            loss_id=F.cross_entropy(self.classifier(x), pids),
            loss_modality=F.cross_entropy(self.adversary(x), modality))


@MODELS.register_module(force=True)
class ToyAlternatingHead(ToyAdversaryHead):
    """MCF-style alternating updates: the adversary learns the modality on
    detached features, then the rest learns identities and to make every
    feature look infrared, the adversary frozen."""

    on_phase = None  # the test's snapshot callback

    def train_step(self, model, data, optim_wrapper):
        data = model.data_preprocessor(data, True)
        inputs, samples = data['inputs'], data['data_samples']
        pids, modality = self.targets(samples)
        main, adversary = optim_wrapper['rest'], optim_wrapper['adversary']
        with main.optim_context(model):
            x = model.extract(inputs, samples)['global']
        with adversary.optim_context(model):
            loss_d = F.cross_entropy(self.adversary(x.detach()), modality)
        adversary.update_params(loss_d)
        self.on_phase('adversary')
        self.adversary.requires_grad_(False)
        with main.optim_context(model):
            losses = dict(
                loss_id=F.cross_entropy(self.classifier(x), pids),
                loss_adv=0.1 *
                F.cross_entropy(self.adversary(x), torch.ones_like(modality)))
        self.adversary.requires_grad_(True)
        parsed, log_vars = model.parse_losses(losses)
        main.update_params(parsed)
        self.on_phase('main')
        log_vars['loss_d'] = loss_d.detach()
        return log_vars


def build(head):
    torch.manual_seed(0)
    model = MODELS.build(
        dict(type='ReIDer', backbone=TINY_BACKBONE, head=dict(type=head)))
    return model.train()


def batch(step):
    g = torch.Generator().manual_seed(step)
    samples = [
        VIReIDDataSample().set_identity(i // 2, 1, MODALITIES[i % 2])
        for i in range(4)
    ]
    images = [
        torch.randint(0, 256, (3, 32, 16), generator=g, dtype=torch.uint8)
        for _ in samples
    ]
    return dict(inputs=images, data_samples=samples)


def sgd(lr, **kwargs):
    return dict(
        type='OptimWrapper', optimizer=dict(type='SGD', lr=lr, **kwargs))


def two_wrappers(model, **kwargs):
    return build_optim_wrapper(
        model,
        dict(
            constructor='MultiOptimWrapperConstructor',
            adversary=dict(module='head.adversary', **sgd(0.5), **kwargs),
            rest=dict(**sgd(0.1, momentum=0.9), **kwargs)))


def snapshot(model):
    return {n: p.detach().clone() for n, p in model.named_parameters()}


def changed(before, after):
    return {n for n in before if not torch.equal(before[n], after[n])}


def test_the_head_hook_alternates_the_updates():
    model = build('ToyAlternatingHead')
    wrappers = two_wrappers(model)
    adversary = {n for n in snapshot(model) if n.startswith('head.adversary')}
    main = set(snapshot(model)) - adversary
    assert len(adversary) == 2 and len(main) > 40
    phases = []
    model.head.on_phase = lambda phase: phases.append((phase, snapshot(model)))
    for step in range(3):
        before = snapshot(model)
        log_vars = model.train_step(batch(step), wrappers)
        (phase_d, after_d), (phase_main, after_main) = phases[-2:]
        assert (phase_d, phase_main) == ('adversary', 'main')
        assert changed(before, after_d) == adversary
        assert changed(after_d, after_main) == main
        # the hook was the whole iteration
        assert changed(after_main, snapshot(model)) == set()
        assert set(log_vars) == {'loss', 'loss_id', 'loss_adv', 'loss_d'}
    assert len(phases) == 6
    for param in model.head.adversary.parameters():
        assert param.requires_grad and param.grad is None


def reference_optimizers(model):
    """The optimisers of :func:`two_wrappers`, by hand."""
    adversary = list(model.head.adversary.parameters())
    rest = [
        p for p in model.parameters() if all(p is not q for q in adversary)
    ]
    return [
        torch.optim.SGD(adversary, lr=0.5),
        torch.optim.SGD(rest, lr=0.1, momentum=0.9)
    ]


def reference_backward(model, data, scale=1.):
    """The joint step's forward and backward, by hand."""
    data = model.data_preprocessor(data, True)
    loss, _ = model.parse_losses(model(**data, mode='loss'))
    (loss / scale).backward()


def test_without_a_hook_one_joint_step_steps_every_wrapper():
    model = build('ToyAdversaryHead')
    ref = copy.deepcopy(model)
    wrappers = two_wrappers(model)
    optimizers = reference_optimizers(ref)
    start = snapshot(model)
    for step in range(3):
        before = snapshot(model)
        log_vars = model.train_step(batch(step), wrappers)
        assert set(log_vars) == {'loss', 'loss_id', 'loss_modality'}
        # every parameter moved: both wrappers stepped
        assert changed(before, snapshot(model)) == set(before)
        reference_backward(ref, batch(step))
        for opt in optimizers:
            opt.step()
            opt.zero_grad()
    got, want = snapshot(model), snapshot(ref)
    assert changed(start, got) == set(start)
    assert all(torch.equal(got[n], want[n]) for n in got)


def test_the_joint_step_accumulates_gradients_as_each_wrapper_does():
    model = build('ToyAdversaryHead')
    ref = copy.deepcopy(model)
    wrappers = two_wrappers(model, accumulative_counts=2)
    start = snapshot(model)
    model.train_step(batch(0), wrappers)
    assert changed(start, snapshot(model)) == set()
    assert all(p.grad is not None for p in model.parameters())
    model.train_step(batch(1), wrappers)
    assert changed(start, snapshot(model)) == set(start)
    assert all(p.grad is None for p in model.parameters())
    # one step of each optimiser on the mean gradient of the two batches
    optimizers = reference_optimizers(ref)
    reference_backward(ref, batch(0), scale=2.)
    reference_backward(ref, batch(1), scale=2.)
    for opt in optimizers:
        opt.step()
    got, want = snapshot(model), snapshot(ref)
    assert all(torch.equal(got[n], want[n]) for n in got)


class OwnBackward(OptimWrapper):
    """A wrapper with a backward of its own (as AmpOptimWrapper's)."""

    def backward(self, loss, **kwargs):
        super().backward(loss, **kwargs)


def test_the_joint_step_refuses_what_one_backward_cannot_do():
    model = build('ToyAdversaryHead')
    wrappers = build_optim_wrapper(
        model,
        dict(
            constructor='MultiOptimWrapperConstructor',
            adversary=dict(
                module='head.adversary', **sgd(0.5), accumulative_counts=2),
            rest=sgd(0.1)))
    with pytest.raises(ValueError, match='accumulative_counts'):
        model.train_step(batch(0), wrappers)
    wrappers = OptimWrapperDict(
        adversary=OwnBackward(
            torch.optim.SGD(model.head.adversary.parameters(), lr=0.5)),
        rest=wrappers['rest'])
    start = snapshot(model)
    with pytest.raises(TypeError, match=r"\['adversary'\]"):
        model.train_step(batch(0), wrappers)
    assert changed(start, snapshot(model)) == set()


@pytest.mark.parametrize('head', ['ToyAdversaryHead', 'ToyAlternatingHead'])
def test_one_wrapper_is_mmengines_train_step(head):
    ours, theirs = build(head), build(head)
    assert all(
        torch.equal(a, b) for a, b in zip(ours.state_dict().values(),
                                          theirs.state_dict().values()))
    wrap = [
        OptimWrapper(
            torch.optim.SGD(
                m.parameters(), lr=0.1, momentum=0.9, weight_decay=5e-4))
        for m in (ours, theirs)
    ]
    for step in range(3):
        got = ours.train_step(batch(step), wrap[0])
        want = BaseModel.train_step(theirs, batch(step), wrap[1])
        assert list(got) == list(want) == ['loss', 'loss_id', 'loss_modality']
        assert all(torch.equal(got[k], want[k]) for k in got)
    state, ref = ours.state_dict(), theirs.state_dict()
    assert all(torch.equal(state[k], ref[k]) for k in state)
    assert changed(snapshot(build(head)),
                   snapshot(ours)) == set(snapshot(ours))


@MODELS.register_module(force=True)
class ToyMAALHead(BaseModule):
    """Identities plus MCF's MAAL (ModalityAdversary), alternated by
    adversarial_train_step."""

    def __init__(self, in_channels: int = 64) -> None:
        super().__init__()
        self.classifier = nn.Linear(in_channels, 2)
        self.adversary = MODELS.build(
            dict(
                type='ModalityAdversary',
                feat_dim=in_channels,
                num_modalities=len(MODALITIES),
                target=1,  # every feature should look infrared
                hidden_dim=8))
        # what the label pipeline hands over: the declared modalities
        self.adversary.set_pseudo_labels(
            PseudoLabels(
                modalities=MODALITIES,
                modality_ids=torch.tensor([0, 1]),
                labels=torch.tensor([0, 0])))

    def loss(self, feats, data_samples):
        pids = torch.tensor([s.pid for s in data_samples])
        return dict(
            loss_id=F.cross_entropy(self.classifier(feats['global']), pids),
            **self.adversary.alignment_loss(feats, data_samples))

    def train_step(self, model, data, optim_wrapper):
        return adversarial_train_step(model, data, optim_wrapper,
                                      self.adversary)


def test_maal_steps_update_only_their_own_parameters():
    model = build('ToyMAALHead')
    wrappers = two_wrappers(model)
    adversary = {n for n in snapshot(model) if n.startswith('head.adversary')}
    main = set(snapshot(model)) - adversary
    trainable = {n for n, p in model.named_parameters()}
    assert len(adversary) == 6 and main == trainable - adversary
    after_adversary = []
    update = wrappers['adversary'].update_params

    def record(loss, **kwargs):
        update(loss, **kwargs)
        after_adversary.append(snapshot(model))
        # the adversary's backward left no gradient outside it
        assert all(p.grad is None or not p.grad.any()
                   for n, p in model.named_parameters() if n in main)

    wrappers['adversary'].update_params = record
    buffers = {
        n: b.clone()
        for n, b in model.head.adversary.named_buffers() if 'running' in n
    }
    for step in range(3):
        before = snapshot(model)
        log_vars = model.train_step(batch(step), wrappers)
        assert changed(before, after_adversary[-1]) == adversary
        assert changed(after_adversary[-1], snapshot(model)) == main
        assert set(log_vars) == {
            'loss', 'loss_id', 'loss_modality_align', 'loss_modality_cls',
            'modality_acc'
        }
        # the main loss counts the alignment term, not the classifier's
        torch.testing.assert_close(
            log_vars['loss'],
            log_vars['loss_id'] + log_vars['loss_modality_align'])
    # the alignment pass used the classifier's running statistics as
    # constants: only the classifier's own (train-mode) passes moved them
    moved = {
        n
        for n, b in model.head.adversary.named_buffers()
        if n in buffers and not torch.equal(b, buffers[n])
    }
    assert moved == set(buffers)
    for param in model.head.adversary.parameters():
        assert param.grad is None or not param.grad.any()


def test_the_alignment_loss_trains_features_towards_the_target_only():
    adversary = MODELS.build(dict(type='ModalityAdversary', feat_dim=4))
    with pytest.raises(ValueError, match='no pseudo-labels yet'):
        adversary.classifier_loss({'global': torch.zeros(1, 4)},
                                  [VIReIDDataSample().set_identity(0, 1, 'v')])
    adversary.set_pseudo_labels(
        PseudoLabels(
            modalities=('visible', 'infrared', 'augmented'),
            modality_ids=torch.tensor([0, 1, 2]),
            labels=torch.zeros(3, dtype=torch.long)))
    x = torch.randn(6, 4, requires_grad=True)
    samples = [
        VIReIDDataSample().set_identity(0, 1, m)
        for m in ('visible', 'infrared', 'augmented') * 2
    ]
    feats = {'global': x}
    align = adversary.alignment_loss(feats, samples)['loss_modality_align']
    align.backward()
    assert x.grad is not None and x.grad.abs().sum() > 0
    assert all(p.grad is None for p in adversary.parameters())
    # beta * CE towards 'augmented' (class 2), by hand
    logits = adversary.classifier(x.detach())
    want = 0.1 * F.cross_entropy(logits, torch.full((6, ), 2))
    torch.testing.assert_close(align, want)
    cls = adversary.classifier_loss(feats, samples)
    cls['loss_modality_cls'].backward()
    assert all(p.grad is not None for p in adversary.parameters())
    torch.testing.assert_close(
        cls['loss_modality_cls'],
        F.cross_entropy(logits, torch.tensor([0, 1, 2] * 2)))


def test_maal_needs_its_own_optimiser_and_valid_settings():
    model = build('ToyMAALHead')
    single = build_optim_wrapper(
        model,
        dict(
            constructor='MultiOptimWrapperConstructor', rest=dict(**sgd(0.1))))
    with pytest.raises(KeyError, match="no 'adversary' entry"):
        model.train_step(batch(0), single)
    with pytest.raises(ValueError, match='target 3 is not a position of 3'):
        MODELS.build(dict(type='ModalityAdversary', feat_dim=4, target=3))
    adversary = MODELS.build(dict(type='ModalityAdversary', feat_dim=4))
    with pytest.raises(ValueError, match='num_modalities=3\) got'):
        adversary.set_pseudo_labels(
            PseudoLabels(
                modalities=MODALITIES,
                modality_ids=torch.tensor([0, 1]),
                labels=torch.zeros(2, dtype=torch.long)))
    with pytest.raises(ValueError, match='beta must be >= 0'):
        MODELS.build(dict(type='ModalityAdversary', feat_dim=4, beta=-1))
