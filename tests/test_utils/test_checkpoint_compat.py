"""``--resume`` on torch >= 2.6 with weights-only loading kept on."""
import os

import pytest
import torch
import torch.nn as nn
from mmengine.hooks import Hook
from mmengine.model import BaseModel
from mmengine.runner import Runner
from mmengine.runner.checkpoint import _load_checkpoint

from mmvireid.utils import register_all_modules

register_all_modules()


class ToyModel(BaseModel):

    def __init__(self):
        super().__init__()
        self.linear = nn.Linear(4, 1)

    def forward(self, inputs, data_samples=None, mode='tensor'):
        x = torch.stack(inputs) if isinstance(inputs, list) else inputs
        return dict(
            loss=(self.linear(x) - x.sum(1, keepdim=True)).pow(2).mean())


class SimulatedKill(Exception):
    pass


class KillAfterEpoch(Hook):
    """Stops training like a kill, after the epoch's checkpoint is saved."""

    priority = 'LOWEST'

    def __init__(self, epoch):
        self.epoch = epoch

    def after_train_epoch(self, runner):
        if runner.epoch + 1 == self.epoch:
            raise SimulatedKill(f'killed after epoch {self.epoch}')


def make_runner(work_dir,
                max_epochs=3,
                resume=False,
                load_from=None,
                kill_after=None):
    generator = torch.Generator().manual_seed(0)
    data = [
        dict(inputs=torch.randn(4, generator=generator)) for _ in range(24)
    ]
    torch.manual_seed(0)  # same initial weights in every run
    return Runner(
        model=ToyModel(),
        work_dir=work_dir,
        train_dataloader=dict(
            dataset=data,
            sampler=dict(type='DefaultSampler', shuffle=True),
            batch_size=4,
            collate_fn=dict(type='default_collate')),
        train_cfg=dict(by_epoch=True, max_epochs=max_epochs),
        optim_wrapper=dict(optimizer=dict(type='Adam', lr=0.05)),
        param_scheduler=dict(type='MultiStepLR', milestones=[2], gamma=0.5),
        default_hooks=dict(
            checkpoint=dict(type='CheckpointHook', interval=1),
            logger=dict(type='LoggerHook', interval=1)),
        randomness=dict(seed=7),
        resume=resume,
        load_from=load_from,
        custom_hooks=[KillAfterEpoch(kill_after)] if kill_after else None,
        default_scope='mmvireid')


def test_interrupted_and_resumed_training_matches(tmp_path):
    full = make_runner(str(tmp_path / 'full'))
    full.train()
    want = {k: v.clone() for k, v in full.model.state_dict().items()}

    with pytest.raises(SimulatedKill):
        make_runner(str(tmp_path / 'part'), kill_after=1).train()
    checkpoint = str(tmp_path / 'part' / 'epoch_1.pth')
    # plain weights-only loading refuses MMEngine's own checkpoint ...
    with pytest.raises(Exception, match='[Ww]eights only load failed'):
        torch.load(checkpoint)
    resumed = make_runner(
        str(tmp_path / 'part'), resume=True, load_from=checkpoint)
    resumed.train()
    assert resumed.epoch == 3
    for key, value in resumed.model.state_dict().items():
        torch.testing.assert_close(value, want[key], rtol=0, atol=0)


def test_arbitrary_objects_are_still_refused(tmp_path):

    class Payload:

        def __reduce__(self):
            return (os.system, ('echo unsafe', ))

    path = str(tmp_path / 'evil.pth')
    torch.save(dict(state_dict={}, meta=Payload()), path)
    with pytest.raises(Exception, match='os.system|posix.system|system'):
        _load_checkpoint(path)


def test_getattr_is_restricted(tmp_path):
    from mmengine.logging import HistoryBuffer

    class Reach:

        def __reduce__(self):
            return (getattr, (HistoryBuffer, '__init__'))

    path = str(tmp_path / 'reach.pth')
    torch.save(dict(meta=Reach()), path)
    with pytest.raises(Exception, match='statistics methods'):
        _load_checkpoint(path)
