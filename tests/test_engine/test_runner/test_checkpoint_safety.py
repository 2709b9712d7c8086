"""A training run never loses its checkpoint and never resumes from a bad
one: VIReIDRunner's checkpoint methods and AtomicCheckpointHook, on a toy
model (issue #10, rows 1, 11 and 12)."""
import multiprocessing
import os
import random
import signal
import time

import pytest
import torch
from mmengine.evaluator import BaseMetric, Evaluator
from mmengine.hooks import Hook
from mmengine.model import BaseModel
from torch import nn
from torch.utils.data import DataLoader

from mmvireid.engine.runner import CheckpointError, VIReIDRunner
from mmvireid.engine.runner.checkpoint_files import (latest_intact_checkpoint,
                                                     verify_checkpoint_file)

# big enough for a save to take most of a toy epoch's time
WIDTH = 512


class ToyModel(BaseModel):

    def __init__(self, width: int = WIDTH) -> None:
        super().__init__()
        self.linear = nn.Linear(width, width)
        self.norm = nn.BatchNorm1d(width)

    def forward(self, inputs, data_samples=None, mode='tensor'):
        out = self.norm(self.linear(inputs))
        if mode == 'loss':
            return dict(loss=out.pow(2).mean())
        return out


class ToyData(torch.utils.data.Dataset):

    def __init__(self, width: int = WIDTH) -> None:
        self.rows = torch.randn(
            8, width, generator=torch.Generator().manual_seed(0))

    def __len__(self):
        return len(self.rows)

    def __getitem__(self, index):
        return dict(inputs=self.rows[index])


class SaveProbe(Hook):
    """Counts the checkpoint saves a run starts and completes (in shared
    memory, for the process that kills it) and times the last one."""

    # after AtomicCheckpointHook (VERY_LOW) in after_train_epoch
    priority = 'LOWEST'

    def __init__(self, started, completed, last_seconds) -> None:
        self.started = started
        self.completed = completed
        self.last_seconds = last_seconds
        self.began = 0.0

    def before_save_checkpoint(self, runner, checkpoint) -> None:
        self.began = time.perf_counter()
        self.started.value += 1

    def after_train_epoch(self, runner) -> None:
        self.last_seconds.value = time.perf_counter() - self.began
        self.completed.value += 1


def build_runner(work_dir,
                 max_epochs: int,
                 resume: bool = False,
                 load_from=None,
                 max_keep_ckpts: int = 1,
                 custom_hooks=None,
                 width: int = WIDTH,
                 validate: bool = False,
                 checkpoint=None) -> VIReIDRunner:
    """A toy run; ``validate`` adds a validation every epoch
    (:class:`RisingMetric`), ``checkpoint`` more checkpoint-hook settings."""
    torch.manual_seed(0)
    validation = dict(
        val_dataloader=DataLoader(ToyData(width), batch_size=4),
        val_evaluator=Evaluator(RisingMetric()),
        val_cfg=dict()) if validate else {}
    return VIReIDRunner(
        model=ToyModel(width),
        work_dir=str(work_dir),
        train_dataloader=DataLoader(
            ToyData(width), batch_size=4, shuffle=False),
        train_cfg=dict(
            by_epoch=True,
            max_epochs=max_epochs,
            **(dict(val_interval=1) if validate else {})),
        optim_wrapper=dict(optimizer=dict(type='Adam', lr=1e-3)),
        default_hooks=dict(
            logger=dict(type='LoggerHook', interval=1000),
            checkpoint=dict(
                type='AtomicCheckpointHook',
                interval=1,
                max_keep_ckpts=max_keep_ckpts,
                **(checkpoint or {}))),
        custom_hooks=custom_hooks,
        resume=resume,
        load_from=load_from,
        default_scope='mmvireid',
        randomness=dict(seed=0),
        log_level='WARNING',
        **validation)


def test_the_old_checkpoint_is_removed_only_after_the_new_is_named(
        tmp_path, monkeypatch):
    build_runner(tmp_path, max_epochs=1).train()
    assert (tmp_path / 'last_checkpoint').read_text().endswith('epoch_1.pth')

    # the second save fails half-way (disk full, kill): epoch_1 survives and
    # stays named in last_checkpoint; no half-written epoch_2 appears
    def fail(*args, **kwargs):
        raise OSError('No space left on device')

    runner = build_runner(tmp_path, max_epochs=2, resume=True)
    monkeypatch.setattr('mmengine.runner.runner.save_checkpoint', fail)
    with pytest.raises(OSError, match='No space left'):
        runner.train()
    assert sorted(p.name for p in tmp_path.glob('*.pth')) == ['epoch_1.pth']
    assert (tmp_path / 'last_checkpoint').read_text().endswith('epoch_1.pth')
    verify_checkpoint_file(str(tmp_path / 'epoch_1.pth'))

    monkeypatch.undo()
    build_runner(tmp_path, max_epochs=3, resume=True).train()
    assert sorted(p.name for p in tmp_path.glob('*.pth')) == ['epoch_3.pth']
    assert not [p for p in tmp_path.iterdir() if '.tmp-' in p.name]


def run_until_killed(runner) -> None:
    torch.set_num_threads(1)
    runner.train()


def wait_for(condition, what: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f'timed out waiting for {what}'
        time.sleep(0.001)


def checkpoint_epoch(path) -> int:
    return torch.load(path, weights_only=False)['meta']['epoch']


def test_killing_the_run_at_random_points_never_loses_a_checkpoint(tmp_path):
    """50 kill -9 of a run that saves every epoch (max_keep_ckpts=1) and
    auto-resumes: 40 at random moments of a checkpoint save (from the
    before_save_checkpoint call to the end of the hook's work), 10 at random
    moments of the start (resume included). After each, last_checkpoint
    names an intact checkpoint and the run never goes back in epochs."""
    context = multiprocessing.get_context('fork')
    started, completed = context.Value('i', 0), context.Value('i', 0)
    last_seconds = context.Value('d', 0.0)
    # built once: every attempt trains a fresh fork of it, which auto-resumes
    runner = build_runner(
        tmp_path,
        max_epochs=10**6,
        resume=True,
        custom_hooks=[SaveProbe(started, completed, last_seconds)])
    chooser = random.Random(0)
    epoch, inside_saves = 0, 0
    for attempt in range(50):
        started.value = completed.value = 0
        process = context.Process(target=run_until_killed, args=(runner, ))
        process.start()
        if attempt == 0:  # a first checkpoint, and how long a save takes
            wait_for(lambda: completed.value >= 2, 'two saves')
            save_seconds = last_seconds.value
        if attempt % 5 == 4:  # somewhere in the start or the resume
            time.sleep(chooser.uniform(0.0, 0.5))
        else:  # somewhere in a save
            wait_for(lambda: started.value > completed.value, 'a save')
            time.sleep(chooser.uniform(0.0, 1.2 * save_seconds))
        os.kill(process.pid, signal.SIGKILL)
        process.join()
        assert process.exitcode == -signal.SIGKILL, \
            f'attempt {attempt}: the run failed by itself'
        inside_saves += started.value > completed.value
        verify_checkpoint_file((tmp_path / 'last_checkpoint').read_text())
        latest = latest_intact_checkpoint(str(tmp_path))
        assert latest is not None, f'attempt {attempt}: no checkpoint left'
        resumed = checkpoint_epoch(latest)
        assert resumed >= epoch, f'attempt {attempt}: back to epoch {resumed}'
        epoch = resumed
    # most kills did land inside a save (else the test proves nothing)
    assert inside_saves >= 25, inside_saves
    assert epoch >= 5


def test_resume_of_a_flipped_byte_checkpoint_is_refused(tmp_path):
    build_runner(tmp_path, max_epochs=1).train()
    path = tmp_path / 'epoch_1.pth'
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01  # inside the tensors: same length
    path.write_bytes(bytes(data))
    runner = build_runner(
        tmp_path / 'again', max_epochs=2, resume=True, load_from=str(path))
    with pytest.raises(CheckpointError, match=r'epoch_1\.pth is corrupt'):
        runner.train()


@pytest.mark.parametrize('content', ['empty', 'truncated'])
def test_resume_of_an_empty_or_truncated_file_names_it(tmp_path, content):
    build_runner(tmp_path, max_epochs=1).train()
    path = tmp_path / 'epoch_1.pth'
    data = path.read_bytes()
    path.write_bytes(b'' if content == 'empty' else data[:len(data) // 2])
    runner = build_runner(
        tmp_path / 'again', max_epochs=2, resume=True, load_from=str(path))
    with pytest.raises(CheckpointError, match=r'epoch_1\.pth '):
        runner.train()


@pytest.mark.parametrize('kind', ['weights', 'foreign'])
def test_resume_of_a_weights_only_or_foreign_file_says_what_it_lacks(
        tmp_path, kind):
    build_runner(tmp_path, max_epochs=1).train()
    state = torch.load(tmp_path / 'epoch_1.pth', weights_only=False)
    path = tmp_path / f'{kind}.pth'
    if kind == 'weights':
        torch.save(dict(state_dict=state['state_dict']), path)
    else:  # another library's training checkpoint
        torch.save(dict(model=state['state_dict'], epoch=1), path)
    runner = build_runner(
        tmp_path / 'again', max_epochs=2, resume=True, load_from=str(path))
    hint = 'load_from=' if kind == 'weights' else 'convert the file'
    with pytest.raises(
            CheckpointError,
            match=rf'cannot resume from .*{kind}\.pth.*'
            rf'meta.*message_hub.*optimizer.*{hint}'):
        runner.train()
    if kind == 'weights':  # its weights can still start a new training
        build_runner(
            tmp_path / 'weights_start', max_epochs=1,
            load_from=str(path)).train()


def test_auto_resume_falls_back_to_the_newest_intact_checkpoint(tmp_path):
    build_runner(tmp_path, max_epochs=3, max_keep_ckpts=3).train()
    (tmp_path / 'epoch_3.pth').write_bytes(b'')
    runner = build_runner(tmp_path, max_epochs=3, resume=True)
    runner.load_or_resume()
    assert runner.epoch == 2
    # a work dir of broken checkpoints is refused, not trained from scratch
    for name in ('epoch_1.pth', 'epoch_2.pth'):
        (tmp_path / name).write_bytes(b'x')
    with pytest.raises(CheckpointError, match='no intact checkpoint'):
        build_runner(tmp_path, max_epochs=3, resume=True).load_or_resume()


def test_auto_resume_removes_temporaries_of_dead_writers(tmp_path):
    build_runner(tmp_path, max_epochs=1).train()
    stale = tmp_path / '.epoch_2.pth.tmp-999999999'
    stale.write_bytes(b'half')
    runner = build_runner(tmp_path, max_epochs=1, resume=True)
    runner.load_or_resume()
    assert not stale.exists() and runner.epoch == 1


class RisingMetric(BaseMetric):
    """A score that improves at every evaluation: every epoch is the best."""

    default_prefix = 'toy'
    evaluations = 0

    def process(self, data_batch, data_samples) -> None:
        self.results.append(0)

    def compute_metrics(self, results) -> dict:
        RisingMetric.evaluations += 1
        return dict(score=float(RisingMetric.evaluations))


def build_validated_runner(work_dir, max_epochs: int) -> VIReIDRunner:
    """A resumed toy run that validates every epoch and keeps the best."""
    return build_runner(
        work_dir,
        max_epochs,
        resume=True,
        width=32,
        validate=True,
        checkpoint=dict(save_best='toy/score', rule='greater'))


def test_the_previous_best_checkpoint_survives_a_failed_best_save(
        tmp_path, monkeypatch):
    build_validated_runner(tmp_path, max_epochs=1).train()
    assert (tmp_path / 'best_toy_score_epoch_1.pth').exists()
    save = VIReIDRunner.save_checkpoint

    def fail_best(self, out_dir, filename, *args, **kwargs):
        if filename.startswith('best_'):
            raise OSError('No space left on device')
        return save(self, out_dir, filename, *args, **kwargs)

    monkeypatch.setattr(VIReIDRunner, 'save_checkpoint', fail_best)
    with pytest.raises(OSError, match='No space left'):
        build_validated_runner(tmp_path, max_epochs=2).train()
    assert (tmp_path / 'best_toy_score_epoch_1.pth').exists()
    monkeypatch.undo()
    build_validated_runner(tmp_path, max_epochs=3).train()
    assert sorted(p.name for p in tmp_path.glob('best_*.pth')) == [
        'best_toy_score_epoch_3.pth'
    ]
