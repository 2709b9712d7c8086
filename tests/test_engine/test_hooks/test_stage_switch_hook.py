"""StageSwitchHook: sampler mode, part re-initialisation, optimiser reset."""
import logging
from types import SimpleNamespace

import pytest
import torch
import torch.nn as nn

from mmvireid.engine.hooks import StageSwitchHook


class Head(nn.Module):

    def __init__(self):
        super().__init__()
        self.parts = nn.Parameter(torch.zeros(3, 4))

    def reinit_part_modules(self):
        nn.init.normal_(self.parts)


def fake_runner(epoch, seed=0):
    model = nn.Module()
    model.head = Head()
    optimizer = torch.optim.Adam(model.parameters(), lr=0.1)
    model.head.parts.grad = torch.ones(3, 4)
    optimizer.step()
    return SimpleNamespace(
        epoch=epoch,
        seed=seed,
        model=model,
        optim_wrapper=SimpleNamespace(optimizer=optimizer),
        train_dataloader=SimpleNamespace(
            sampler=SimpleNamespace(mode='intra')),
        logger=logging.getLogger('test_stage_switch'))


def test_nothing_happens_before_the_switch():
    runner = fake_runner(epoch=1)
    before = runner.model.head.parts.detach().clone()
    StageSwitchHook(switch_epoch=2).before_train_epoch(runner)
    assert runner.train_dataloader.sampler.mode == 'intra'
    assert torch.equal(runner.model.head.parts, before)
    assert len(runner.optim_wrapper.optimizer.state) == 1


def test_switch_reinitialises_deterministically_and_resets_state():
    got = []
    for _ in range(2):
        runner = fake_runner(epoch=2)
        torch.manual_seed(len(got))  # the global RNG must not matter
        state = torch.random.get_rng_state()
        StageSwitchHook(switch_epoch=2).before_train_epoch(runner)
        assert torch.equal(torch.random.get_rng_state(), state)
        assert runner.train_dataloader.sampler.mode == 'paired'
        assert len(runner.optim_wrapper.optimizer.state) == 0
        got.append(runner.model.head.parts.detach().clone())
    assert torch.equal(got[0], got[1]) and got[0].abs().sum() > 0
    other = fake_runner(epoch=2, seed=1)
    StageSwitchHook(switch_epoch=2).before_train_epoch(other)
    assert not torch.equal(other.model.head.parts, got[0])


def test_after_the_switch_only_the_mode_is_restored():
    runner = fake_runner(epoch=3)
    before = runner.model.head.parts.detach().clone()
    StageSwitchHook(switch_epoch=2).before_train_epoch(runner)
    assert runner.train_dataloader.sampler.mode == 'paired'
    assert torch.equal(runner.model.head.parts, before)
    assert len(runner.optim_wrapper.optimizer.state) == 1


def test_options_and_errors():
    runner = fake_runner(epoch=0)
    StageSwitchHook(
        switch_epoch=0,
        sampler_mode=None,
        reinit_part_modules=False,
        reset_optimizer=False).before_train_epoch(runner)
    assert runner.train_dataloader.sampler.mode == 'intra'
    assert len(runner.optim_wrapper.optimizer.state) == 1
    runner.train_dataloader = SimpleNamespace(sampler=object())
    with pytest.raises(TypeError, match='CrossModalClusterSampler'):
        StageSwitchHook(switch_epoch=0).before_train_epoch(runner)
    with pytest.raises(ValueError, match='switch_epoch'):
        StageSwitchHook(switch_epoch=-1)


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
    """The training set gets the stage-2 pipeline, also in dataloader
    workers kept alive across epochs (which hold a copy of the dataset)."""
    loader = torch.utils.data.DataLoader(
        PipelineDataset(),
        batch_size=4,
        num_workers=1,
        persistent_workers=True)
    assert next(iter(loader)).tolist() == [1] * 4  # workers now alive
    runner = fake_runner(epoch=epoch)
    runner.train_dataloader = loader
    hook = StageSwitchHook(
        switch_epoch=2, sampler_mode=None, train_pipeline=[stage_two])
    hook.before_train_epoch(runner)
    assert next(iter(loader)).tolist() == [2] * 4
    assert loader.dataset[0] == 2


def test_pipeline_is_kept_before_the_switch_and_needs_a_dataset_pipeline():
    loader = torch.utils.data.DataLoader(PipelineDataset(), batch_size=4)
    runner = fake_runner(epoch=1)
    runner.train_dataloader = loader
    StageSwitchHook(
        switch_epoch=2, sampler_mode=None,
        train_pipeline=[stage_two]).before_train_epoch(runner)
    assert next(iter(loader)).tolist() == [1] * 4
    runner = fake_runner(epoch=2)
    runner.train_dataloader = torch.utils.data.DataLoader(range(4))
    with pytest.raises(TypeError, match='pipeline'):
        StageSwitchHook(
            switch_epoch=2, sampler_mode=None,
            train_pipeline=[stage_two]).before_train_epoch(runner)
