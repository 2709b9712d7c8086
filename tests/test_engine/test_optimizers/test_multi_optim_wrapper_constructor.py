import subprocess
import sys

import pytest
import torch
import torch.nn as nn
from mmengine.config import Config
from mmengine.optim import (DefaultOptimWrapperConstructor, OptimWrapperDict,
                            build_optim_wrapper)

from mmvireid.engine import MultiOptimWrapperConstructor
from mmvireid.utils import register_all_modules

register_all_modules()


class ToyBackbone(nn.Module):
    """A conv stem, a norm and an adapter."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3)
        self.bn = nn.BatchNorm2d(4)
        self.adapter = nn.Linear(4, 4)


class ToyHead(nn.Module):
    """A classifier, a modality adversary and a prompt learner."""

    def __init__(self) -> None:
        super().__init__()
        self.classifier = nn.Linear(4, 3)
        self.adversary = nn.Sequential(
            nn.Linear(4, 4), nn.ReLU(), nn.Linear(4, 3))
        self.prompt_learner = nn.Module()
        self.prompt_learner.ctx = nn.Parameter(torch.zeros(2, 4))


class ToyReIDer(nn.Module):
    """backbone / neck (BNNeck with a frozen bias) / head, as a ReIDer."""

    def __init__(self) -> None:
        super().__init__()
        self.backbone = ToyBackbone()
        self.neck = nn.Module()
        self.neck.bn = nn.BatchNorm1d(4)
        self.neck.bn.bias.requires_grad_(False)
        self.head = ToyHead()


def sgd(lr=0.1, **kwargs):
    return dict(
        type='OptimWrapper', optimizer=dict(type='SGD', lr=lr, **kwargs))


def build(model, **entries):
    return build_optim_wrapper(
        model, dict(constructor='MultiOptimWrapperConstructor', **entries))


def held(wrapper):
    """The ids of the parameters a wrapper's optimiser holds."""
    return [id(p) for g in wrapper.optimizer.param_groups for p in g['params']]


def ids(*modules):
    return [id(p) for m in modules for p in m.parameters() if p.requires_grad]


def lr_of(wrapper):
    """Each held parameter's learning rate, by id."""
    return {
        id(p): g['lr']
        for g in wrapper.optimizer.param_groups
        for p in g['params']
    }


def test_partitions_the_parameters_into_the_entries():
    model = ToyReIDer()
    wrappers = build(
        model,
        backbone=dict(
            type='OptimWrapper', optimizer=dict(type='Adam', lr=3.5e-4)),
        adversary=dict(module='head.adversary', **sgd(0.01)),
        rest=sgd(0.1, momentum=0.9))
    assert isinstance(wrappers, OptimWrapperDict)
    assert list(wrappers.keys()) == ['backbone', 'adversary', 'rest']
    assert isinstance(wrappers['backbone'].optimizer, torch.optim.Adam)
    assert held(wrappers['backbone']) == ids(model.backbone)
    assert held(wrappers['adversary']) == ids(model.head.adversary)
    head = model.head
    # the rest: neck weight (its bias is frozen), classifier, prompts
    assert sorted(held(wrappers['rest'])) == sorted([
        id(model.neck.bn.weight),
        id(head.classifier.weight),
        id(head.classifier.bias),
        id(head.prompt_learner.ctx)
    ])
    everything = sum((held(w) for w in wrappers.values()), [])
    assert sorted(everything) == sorted(ids(model))
    assert id(model.neck.bn.bias) not in everything
    assert wrappers['adversary'].get_lr()['lr'] == [0.01]
    assert wrappers.get_lr()['rest.lr'] == [0.1]


def test_a_dotted_key_is_the_path():
    model = ToyReIDer()
    wrappers = build(model, **{'head.adversary': sgd(), 'rest': sgd()})
    assert held(wrappers['head.adversary']) == ids(model.head.adversary)
    assert id(model.head.adversary[0].weight) not in held(wrappers['rest'])


def test_overlapping_entries_raise_naming_parameters_and_keys():
    with pytest.raises(ValueError) as err:
        build(
            ToyReIDer(),
            head=sgd(),
            adversary=dict(module='head.adversary', **sgd()),
            backbone=sgd(),
            neck=sgd())
    msg = str(err.value)
    assert 'overlap' in msg
    assert "head.adversary.0.weight (in 'head', 'adversary')" in msg
    assert 'classifier' not in msg


def test_uncovered_parameters_raise_naming_them_and_the_keys():
    with pytest.raises(ValueError) as err:
        build(ToyReIDer(), backbone=sgd(), head=sgd())
    msg = str(err.value)
    assert "'backbone', 'head'" in msg
    assert 'neck.bn.weight' in msg
    # a frozen parameter needs no entry
    assert 'neck.bn.bias' not in msg


def test_an_unknown_sub_module_raises_naming_it():
    with pytest.raises(ValueError, match="'head.discriminator'"):
        build(
            ToyReIDer(),
            adversary=dict(module='head.discriminator', **sgd()),
            rest=sgd())
    with pytest.raises(ValueError, match="'bakbone'"):
        build(ToyReIDer(), bakbone=sgd(), rest=sgd())


def test_config_mistakes_raise():
    with pytest.raises(ValueError, match='one paramwise_cfg per entry'):
        build_optim_wrapper(
            ToyReIDer(),
            dict(
                constructor='MultiOptimWrapperConstructor',
                rest=sgd(),
                paramwise_cfg=dict(norm_decay_mult=0.)))
    with pytest.raises(ValueError, match="entry 'type'"):
        build(ToyReIDer(), type='OptimWrapper', rest=sgd())
    with pytest.raises(ValueError, match="'rest' takes"):
        build(ToyReIDer(), rest=dict(module='head', **sgd()))
    with pytest.raises(ValueError, match="'neck'.*no trainable"):
        model = ToyReIDer()
        model.neck.requires_grad_(False)
        build(model, neck=sgd(), rest=sgd())


def test_each_entry_has_its_own_paramwise_cfg():
    model = ToyReIDer()
    wrappers = build(
        model,
        backbone=dict(
            **sgd(0.1),
            paramwise_cfg=dict(custom_keys={'adapter': dict(lr_mult=10.)})),
        rest=dict(**sgd(0.01), paramwise_cfg=dict(bias_lr_mult=2.)))
    lrs, rest = lr_of(wrappers['backbone']), lr_of(wrappers['rest'])
    bb, head = model.backbone, model.head
    assert lrs[id(bb.adapter.weight)] == pytest.approx(1.0)
    assert lrs[id(bb.adapter.bias)] == pytest.approx(1.0)
    # bias_lr_mult is the rest's: the backbone's conv bias keeps its lr
    assert lrs[id(bb.conv.bias)] == pytest.approx(0.1)
    assert lrs[id(bb.conv.weight)] == pytest.approx(0.1)
    assert rest[id(head.classifier.bias)] == pytest.approx(0.02)
    assert rest[id(head.classifier.weight)] == pytest.approx(0.01)
    # the adapter key is the backbone's: the rest has no 10x
    assert rest[id(head.adversary[0].weight)] == pytest.approx(0.01)


class Block(nn.Module):
    """An encoder block with a parallel bottleneck adapter."""

    def __init__(self) -> None:
        super().__init__()
        self.attn = nn.Linear(4, 4)
        self.norm = nn.LayerNorm(4)
        self.adapter = nn.Sequential(nn.Linear(4, 2), nn.Linear(2, 4))


class ClipLike(nn.Module):
    """A frozen image encoder with adapters, a frozen text encoder and a
    trainable prompt learner."""

    def __init__(self) -> None:
        super().__init__()
        self.backbone = nn.Module()
        self.backbone.blocks = nn.Sequential(Block(), Block())
        self.backbone.proj = nn.Linear(4, 4)
        self.head = nn.Module()
        self.head.text_encoder = nn.Linear(4, 4)
        self.head.prompt_learner = nn.Module()
        self.head.prompt_learner.ctx = nn.Parameter(torch.randn(2, 4))
        self.requires_grad_(False)
        for block in self.backbone.blocks:
            block.adapter.requires_grad_(True)
        self.head.prompt_learner.requires_grad_(True)


def test_frozen_encoder_with_adapters_and_prompts_recipe():
    # the recipe of MultiOptimWrapperConstructor's docstring, from a config
    cfg = Config(
        dict(
            optim_wrapper=dict(
                constructor='MultiOptimWrapperConstructor',
                prompts=dict(
                    module='head.prompt_learner',
                    type='OptimWrapper',
                    optimizer=dict(type='Adam', lr=3.5e-4, weight_decay=5e-4)),
                rest=dict(
                    type='OptimWrapper',
                    optimizer=dict(type='Adam', lr=3.5e-5, weight_decay=5e-4),
                    paramwise_cfg=dict(
                        custom_keys={'adapter': dict(lr_mult=10.)})))))
    model = ClipLike()
    wrappers = build_optim_wrapper(model, cfg.optim_wrapper)
    adapters = [b.adapter for b in model.backbone.blocks]
    assert held(wrappers['prompts']) == [id(model.head.prompt_learner.ctx)]
    assert sorted(held(wrappers['rest'])) == sorted(ids(*adapters))
    rest_lrs = list(lr_of(wrappers['rest']).values())
    assert rest_lrs == pytest.approx([3.5e-4] * 8)
    # mmengine's constructor alone would hand the optimiser the frozen text
    # encoder too: the entries leave every frozen parameter out
    plain = DefaultOptimWrapperConstructor(
        dict(type='OptimWrapper', optimizer=dict(type='Adam', lr=1.)))
    assert id(model.head.text_encoder.weight) in held(plain(model.head))
    wrappers = build(model, head=sgd(), backbone=sgd())
    assert held(wrappers['head']) == [id(model.head.prompt_learner.ctx)]
    assert sorted(held(wrappers['backbone'])) == sorted(ids(*adapters))

    # training moves the adapters and the prompts, not the encoders
    frozen = {n: p.clone() for n, p in model.named_parameters()}
    x = torch.randn(5, 4)
    for _ in range(2):
        feat = x
        for block in model.backbone.blocks:
            feat = block.norm(block.attn(feat) + block.adapter(feat))
        text = model.head.text_encoder(model.head.prompt_learner.ctx)
        loss = (model.backbone.proj(feat) @ text.t()).logsumexp(1).mean()
        loss.backward()
        for wrapper in wrappers.values():
            wrapper.step()
            wrapper.zero_grad()
    for name, param in model.named_parameters():
        moved = not torch.equal(param, frozen[name])
        assert moved == param.requires_grad, name


def test_found_by_name_from_a_config_without_importing_the_engine():
    # mmengine's build_optim_wrapper finds the constructor in the default
    # scope through the registry's locations (no custom_imports)
    code = (
        'import sys, torch.nn as nn\n'
        'from mmengine.registry import DefaultScope\n'
        'from mmengine.optim import build_optim_wrapper\n'
        "DefaultScope.get_instance('t', scope_name='mmvireid')\n"
        "assert 'mmvireid.engine' not in sys.modules\n"
        'model = nn.Sequential(nn.Linear(2, 2), nn.Linear(2, 2))\n'
        "w = build_optim_wrapper(model, dict(constructor='MultiOptimWrapper"
        "Constructor', **{'0': dict(type='OptimWrapper', optimizer=dict("
        "type='SGD', lr=1.)), 'rest': dict(type='OptimWrapper', "
        "optimizer=dict(type='Adam', lr=2.))}))\n"
        "assert list(w.keys()) == ['0', 'rest'], list(w.keys())\n"
        "assert w['rest'].get_lr()['lr'] == [2.]\n")
    subprocess.run([sys.executable, '-c', code], check=True, timeout=120)


def test_built_without_the_registry():
    model = ToyReIDer()
    constructor = MultiOptimWrapperConstructor(
        dict(backbone=sgd(), rest=sgd()))
    wrappers = constructor(model)
    assert held(wrappers['backbone']) == ids(model.backbone)
