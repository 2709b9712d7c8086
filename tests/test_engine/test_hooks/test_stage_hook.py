"""StageHook: stages by epoch, sampler mode, model.switch_stage, optimiser
reset, pipelines, progress; AssociationHook scheduled by stage."""
import logging
from types import SimpleNamespace

import pytest
import torch
import torch.nn as nn
from mmengine.logging import MessageHub

from mmvireid.engine.hooks import AssociationHook, StageHook


class Model(nn.Module):
    """Records the schedule calls; re-initialises at 'cross'."""

    def __init__(self):
        super().__init__()
        self.parts = nn.Parameter(torch.zeros(3, 4))
        self.calls = []

    def switch_stage(self, stage):
        self.calls.append(stage)
        if stage == 'cross':
            nn.init.normal_(self.parts)
        return ['parts'] if stage == 'cross' else []

    def set_progress(self, epoch, max_epochs):
        self.calls.append((epoch, max_epochs))


def fake_runner(epoch, seed=0):
    model = Model()
    optimizer = torch.optim.Adam(model.parameters(), lr=0.1)
    model.parts.grad = torch.ones(3, 4)
    optimizer.step()
    return SimpleNamespace(
        epoch=epoch,
        max_epochs=6,
        seed=seed,
        model=model,
        optim_wrapper=SimpleNamespace(optimizer=optimizer),
        train_dataloader=SimpleNamespace(
            sampler=SimpleNamespace(mode='intra')),
        message_hub=MessageHub(f'stage_hook_{id(model)}'),
        logger=logging.getLogger('test_stage_hook'))


def salcr_stages(**cross):
    return dict(
        intra=dict(epoch=0, sampler_mode='intra'),
        cross=dict(
            dict(epoch=2, sampler_mode='paired', reset_optimizer=True),
            **cross))


def test_before_the_second_stage_only_the_first_applies():
    runner = fake_runner(epoch=1)
    before = runner.model.parts.detach().clone()
    StageHook(salcr_stages()).before_train_epoch(runner)
    assert runner.train_dataloader.sampler.mode == 'intra'
    assert runner.message_hub.get_info('stage') == 'intra'
    assert torch.equal(runner.model.parts, before)
    assert len(runner.optim_wrapper.optimizer.state) == 1
    # epoch 1 is no stage's first epoch: progress only
    assert runner.model.calls == [(1, 6)]


def test_switch_is_seeded_and_resets_the_optimiser():
    got = []
    for _ in range(2):
        runner = fake_runner(epoch=2)
        torch.manual_seed(len(got))  # the global RNG must not matter
        state = torch.random.get_rng_state()
        StageHook(salcr_stages()).before_train_epoch(runner)
        assert torch.equal(torch.random.get_rng_state(), state)
        assert runner.train_dataloader.sampler.mode == 'paired'
        assert runner.message_hub.get_info('stage') == 'cross'
        assert len(runner.optim_wrapper.optimizer.state) == 0
        assert runner.model.calls == [(2, 6), 'cross']
        got.append(runner.model.parts.detach().clone())
    assert torch.equal(got[0], got[1]) and got[0].abs().sum() > 0
    other = fake_runner(epoch=2, seed=1)
    StageHook(salcr_stages()).before_train_epoch(other)
    assert not torch.equal(other.model.parts, got[0])


def test_resumed_inside_a_stage_restores_the_mode_only():
    runner = fake_runner(epoch=3)
    before = runner.model.parts.detach().clone()
    StageHook(salcr_stages()).before_train_epoch(runner)
    assert runner.train_dataloader.sampler.mode == 'paired'
    assert torch.equal(runner.model.parts, before)
    assert len(runner.optim_wrapper.optimizer.state) == 1
    assert runner.model.calls == [(3, 6)]


def test_stage_options_and_errors():
    # a derived config switches the sampler change and the reset off
    runner = fake_runner(epoch=2)
    StageHook(salcr_stages(sampler_mode=None,
                           reset_optimizer=False)).before_train_epoch(runner)
    assert runner.train_dataloader.sampler.mode == 'intra'
    assert len(runner.optim_wrapper.optimizer.state) == 1
    # list form; sorted by epoch
    hook = StageHook([dict(name='b', epoch=3), dict(name='a', epoch=0)])
    assert hook.first_epochs == dict(a=0, b=3)
    assert hook.stage_at(5)['name'] == 'b'
    # a removed stage (None) is dropped
    assert StageHook(dict(a=dict(epoch=0), b=None)).first_epochs == dict(a=0)
    for bad, match in (({}, 'no stage'), (dict(a=dict(epoch=1)), 'epoch 0'),
                       (dict(a=dict(epoch=0), b=dict(epoch=0)), 'same epoch'),
                       (dict(a=dict(epoch=0, mode='x')),
                        'unknown keys'), (dict(a=dict()), "int 'epoch'"),
                       ([dict(name='a', epoch=0),
                         dict(name='a', epoch=1)], 'two stages named')):
        with pytest.raises(ValueError, match=match):
            StageHook(bad)
    runner.train_dataloader = SimpleNamespace(sampler=object())
    with pytest.raises(TypeError, match='CrossModalClusterSampler'):
        StageHook(salcr_stages()).before_train(runner)


class PipelineDataset(torch.utils.data.Dataset):
    """Four items, each passed through ``self.pipeline``."""

    def __init__(self):
        self.pipeline = lambda results: dict(results, stage=1)

    def __len__(self):
        return 4

    def __getitem__(self, index):
        return self.pipeline(dict(index=index))['stage']


def stage_two(results):
    return dict(results, stage=2)


@pytest.mark.parametrize('epoch', [2, 3])  # at the switch, or resumed after
def test_pipeline_switch_reaches_persistent_workers(epoch):
    """The training set gets the stage's pipeline, also in dataloader
    workers kept alive across epochs (which hold a copy of the dataset)."""
    loader = torch.utils.data.DataLoader(
        PipelineDataset(),
        batch_size=4,
        num_workers=1,
        persistent_workers=True)
    assert next(iter(loader)).tolist() == [1] * 4  # workers now alive
    runner = fake_runner(epoch=epoch)
    runner.train_dataloader = loader
    hook = StageHook(
        dict(a=dict(epoch=0), b=dict(epoch=2, pipeline=[stage_two])))
    hook.before_train_epoch(runner)
    assert next(iter(loader)).tolist() == [2] * 4
    assert loader.dataset[0] == 2


def test_pipeline_is_kept_before_its_stage_and_needs_a_dataset_pipeline():
    loader = torch.utils.data.DataLoader(PipelineDataset(), batch_size=4)
    runner = fake_runner(epoch=1)
    runner.train_dataloader = loader
    stages = dict(a=dict(epoch=0), b=dict(epoch=2, pipeline=[stage_two]))
    StageHook(stages).before_train_epoch(runner)
    assert next(iter(loader)).tolist() == [1] * 4
    runner = fake_runner(epoch=2)
    runner.train_dataloader = torch.utils.data.DataLoader(range(4))
    with pytest.raises(TypeError, match='pipeline'):
        StageHook(stages).before_train_epoch(runner)


def test_association_follows_the_stage_not_a_second_epoch_number():
    runner = fake_runner(epoch=0)
    runner.train_dataloader.dataset = SimpleNamespace(
        metainfo=dict(modalities=('visible', 'infrared')))
    stage = StageHook(salcr_stages())
    hook = AssociationHook(stages=('cross', ))
    with pytest.raises(ValueError, match='needs a StageHook'):
        hook.before_train(runner)
    stage.before_train(runner)
    hook.before_train(runner)
    with pytest.raises(ValueError, match=r"\['late'\] are not stages"):
        AssociationHook(stages=('late', )).before_train(runner)
    with pytest.raises(ValueError, match='not both'):
        AssociationHook(start_epoch=2, stages=('cross', ))
    for epoch, active in ((1, False), (2, True), (5, True)):
        runner.epoch = epoch
        stage.before_train_epoch(runner)
        assert hook.active(runner) is active
    assert AssociationHook(start_epoch=3).active(runner)
