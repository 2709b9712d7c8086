"""Checkpoint files: verification, atomic commit, resumability and the
auto-resume choice (mmvireid/engine/runner/checkpoint_files.py)."""
import logging
import os
import pickle
import zipfile

import pytest
import torch

from mmvireid.engine.runner.checkpoint_files import (
    CheckpointError, check_resumable, checkpoint_candidates, commit_checkpoint,
    latest_intact_checkpoint, remove_stale_temporaries, temporary_name,
    verify_checkpoint_file, write_text_atomically)


def training_checkpoint(value: float = 1.0) -> dict:
    return dict(
        meta=dict(epoch=3, iter=30),
        state_dict=dict(weight=torch.full((64, ), value)),
        message_hub=dict(log_scalars={}),
        optimizer=dict(state={}, param_groups=[]))


def entry_data_offset(path, suffix: str) -> int:
    """Offset in the file of the first byte of the zip entry ending with
    ``suffix``."""
    with zipfile.ZipFile(path) as archive:
        info = next(i for i in archive.infolist()
                    if i.filename.endswith(suffix))
    with open(path, 'rb') as file:
        file.seek(info.header_offset + 26)
        name_length, extra_length = (
            int.from_bytes(file.read(2), 'little') for _ in range(2))
    return info.header_offset + 30 + name_length + extra_length


def flip_byte(path, offset: int) -> None:
    with open(path, 'r+b') as file:
        file.seek(offset)
        byte = file.read(1)
        file.seek(offset)
        file.write(bytes([byte[0] ^ 0x5A]))


def test_an_intact_checkpoint_verifies(tmp_path):
    path = tmp_path / 'epoch_1.pth'
    torch.save(training_checkpoint(), path)
    verify_checkpoint_file(str(path))


def test_a_flipped_byte_in_a_tensor_is_refused_naming_the_entry(tmp_path):
    path = tmp_path / 'epoch_1.pth'
    torch.save(training_checkpoint(), path)
    flip_byte(path, entry_data_offset(path, 'data/0') + 17)
    # torch.load itself does not notice: the values are silently wrong
    assert not torch.equal(
        torch.load(path)['state_dict']['weight'], torch.ones(64))
    with pytest.raises(
            CheckpointError,
            match=r'epoch_1\.pth is corrupt.*'
            r'CRC-32 of its entry .*data/0'):
        verify_checkpoint_file(str(path))


def test_an_empty_file_is_refused(tmp_path):
    path = tmp_path / 'epoch_1.pth'
    path.write_bytes(b'')
    with pytest.raises(CheckpointError, match=r'epoch_1\.pth is empty'):
        verify_checkpoint_file(str(path))


@pytest.mark.parametrize('keep', [0.3, 0.9, 0.999])
def test_a_truncated_file_is_refused(tmp_path, keep):
    path = tmp_path / 'epoch_1.pth'
    torch.save(training_checkpoint(), path)
    data = path.read_bytes()
    path.write_bytes(data[:int(len(data) * keep)])
    with pytest.raises(
            CheckpointError, match=r'epoch_1\.pth .*'
            r'(truncated|corrupt)'):
        verify_checkpoint_file(str(path))


def test_a_file_of_another_kind_is_refused(tmp_path):
    path = tmp_path / 'model.pth'
    path.write_text('not a checkpoint')
    with pytest.raises(CheckpointError, match='another kind of file'):
        verify_checkpoint_file(str(path))


def test_legacy_format_and_urls_pass_unchecked(tmp_path):
    path = tmp_path / 'legacy.pth'
    torch.save(
        training_checkpoint(), path, _use_new_zipfile_serialization=False)
    verify_checkpoint_file(str(path))
    verify_checkpoint_file('https://example.org/weights.pth')
    verify_checkpoint_file(str(tmp_path / 'missing.pth'))  # loader's job


def test_check_resumable_names_what_is_missing():
    check_resumable(training_checkpoint(), 'run/epoch_3.pth')
    weights = dict(state_dict=training_checkpoint()['state_dict'])
    with pytest.raises(
            CheckpointError,
            match=r"cannot resume from w\.pth.*\['state_dict'\].*"
            r"meta, message_hub, optimizer.*load_from='w\.pth'"):
        check_resumable(weights, 'w.pth')
    with pytest.raises(CheckpointError, match='holds a list'):
        check_resumable([1, 2], 'w.pth')
    no_steps = dict(training_checkpoint(), meta=dict(seed=0))
    with pytest.raises(CheckpointError, match=r"meta\['epoch'\]"):
        check_resumable(no_steps, 'w.pth')
    without_optimizer = training_checkpoint()
    del without_optimizer['optimizer']
    check_resumable(without_optimizer, 'w.pth', optimizer=False)
    with pytest.raises(CheckpointError, match='param_schedulers'):
        check_resumable(training_checkpoint(), 'w.pth', param_schedulers=True)


def test_commit_puts_a_complete_file_in_place_and_refuses_a_broken_one(
        tmp_path):
    final = tmp_path / 'epoch_2.pth'
    torch.save(training_checkpoint(1.0), final)
    temporary = tmp_path / temporary_name('epoch_2.pth')
    torch.save(training_checkpoint(2.0), temporary)
    commit_checkpoint(str(temporary), str(final))
    assert not temporary.exists()
    assert torch.load(final)['state_dict']['weight'][0] == 2.0

    temporary.write_bytes(b'half a checkpoint')
    with pytest.raises(CheckpointError):
        commit_checkpoint(str(temporary), str(final))
    assert not temporary.exists()
    assert torch.load(final)['state_dict']['weight'][0] == 2.0


def test_write_text_atomically_replaces_the_file(tmp_path):
    path = tmp_path / 'last_checkpoint'
    write_text_atomically(str(path), 'a')
    write_text_atomically(str(path), 'b')
    assert path.read_text() == 'b'
    assert os.listdir(tmp_path) == ['last_checkpoint']


def test_only_temporaries_of_dead_writers_are_removed(tmp_path):
    child = os.fork()
    if child == 0:
        os._exit(0)
    os.waitpid(child, 0)
    dead = tmp_path / f'.epoch_1.pth.tmp-{child}'
    live = tmp_path / temporary_name('epoch_2.pth')
    other = tmp_path / 'epoch_1.pth'
    for path in (dead, live, other):
        path.write_bytes(b'x')
    assert remove_stale_temporaries(str(tmp_path)) == [str(dead)]
    assert live.exists() and other.exists()


def save_at(path, value: float, mtime_ns: int) -> None:
    torch.save(training_checkpoint(value), path)
    os.utime(path, ns=(mtime_ns, mtime_ns))


def test_auto_resume_takes_the_newest_intact_checkpoint(tmp_path, caplog):
    for step in (1, 2, 3):
        save_at(tmp_path / f'epoch_{step}.pth', step, step * 10**9)
    (tmp_path / 'last_checkpoint').write_text(str(tmp_path / 'epoch_2.pth'))
    (tmp_path / 'notes.pth').write_bytes(b'')  # not a checkpoint name
    assert checkpoint_candidates(str(tmp_path)) == [
        str(tmp_path / f'epoch_{step}.pth') for step in (3, 2, 1)
    ]
    # epoch_3 was completed after last_checkpoint was written (a kill
    # between the rename and the update): the newest complete one wins
    assert latest_intact_checkpoint(str(tmp_path)) == str(tmp_path /
                                                          'epoch_3.pth')

    flip_byte(tmp_path / 'epoch_3.pth',
              entry_data_offset(tmp_path / 'epoch_3.pth', 'data/0'))
    (tmp_path / 'epoch_2.pth').write_bytes(b'')
    with caplog.at_level('WARNING'):
        chosen = latest_intact_checkpoint(
            str(tmp_path), logging.getLogger('auto-resume'))
    assert chosen == str(tmp_path / 'epoch_1.pth')
    assert 'passes over' in caplog.text and 'epoch_3.pth is corrupt' in \
        caplog.text and 'epoch_2.pth is empty' in caplog.text


def test_auto_resume_refuses_a_work_dir_of_broken_checkpoints(tmp_path):
    (tmp_path / 'epoch_1.pth').write_bytes(b'')
    (tmp_path / 'last_checkpoint').write_text(str(tmp_path / 'epoch_1.pth'))
    with pytest.raises(CheckpointError, match='no intact checkpoint'):
        latest_intact_checkpoint(str(tmp_path))


def test_auto_resume_of_an_empty_work_dir_finds_nothing(tmp_path, caplog):
    assert latest_intact_checkpoint(str(tmp_path)) is None
    (tmp_path / 'last_checkpoint').write_text(str(tmp_path / 'epoch_9.pth'))
    with caplog.at_level('WARNING'):
        assert latest_intact_checkpoint(
            str(tmp_path), logging.getLogger('auto-resume')) is None
    assert 'does not exist' in caplog.text


def test_pickle_is_not_needed_to_verify(tmp_path, monkeypatch):
    """Verification reads bytes only: it never unpickles the file."""
    path = tmp_path / 'epoch_1.pth'
    torch.save(training_checkpoint(), path)

    def refuse(*args, **kwargs):
        raise AssertionError('unpickled')

    monkeypatch.setattr(pickle, 'load', refuse)
    monkeypatch.setattr(pickle, 'loads', refuse)
    verify_checkpoint_file(str(path))
