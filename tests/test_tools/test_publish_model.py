"""Tests for ``tools/publish_model.py`` on a real MMEngine checkpoint."""
import hashlib
import importlib.util
import os
import os.path as osp
import re
import subprocess
import sys
import uuid

import pytest
import torch
import torch.nn as nn
from torch.utils.data import Dataset

REPO_ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
TOOL = osp.join(REPO_ROOT, 'tools', 'publish_model.py')
TIMEOUT = 120


def _load_tool():
    spec = importlib.util.spec_from_file_location(
        f'publish_model_under_test_{uuid.uuid4().hex}', TOOL)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _expected_version():
    spec = importlib.util.spec_from_file_location(
        '_mmvireid_version_for_test',
        osp.join(REPO_ROOT, 'mmvireid', 'version.py'))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.__version__


class ToyDataset(Dataset):
    metainfo = dict(classes=('visible', 'infrared'))

    def __len__(self):
        return 8

    def __getitem__(self, index):
        return dict(
            inputs=torch.full((4, ), float(index)),
            target=torch.tensor(float(index % 2)))


def _toy_model():
    from mmengine.model import BaseModel

    class ToyModel(BaseModel):

        def __init__(self):
            super().__init__()
            self.linear = nn.Linear(4, 1)
            self.bn = nn.BatchNorm1d(1)

        def forward(self, inputs, target, mode='tensor'):
            out = self.bn(self.linear(inputs)).squeeze(-1)
            if mode == 'loss':
                return dict(loss=((out - target)**2).mean())
            return out

    return ToyModel()


@pytest.fixture(scope='module')
def train_checkpoint(tmp_path_factory):
    """A real training checkpoint from a 1-epoch CPU run of a Runner."""
    from mmengine.runner import Runner

    work_dir = tmp_path_factory.mktemp('publish_model_run')
    runner = Runner(
        model=_toy_model(),
        work_dir=str(work_dir),
        experiment_name=f'test_publish_model_{uuid.uuid4().hex}',
        train_dataloader=dict(
            dataset=ToyDataset(),
            batch_size=2,
            num_workers=0,
            sampler=dict(type='DefaultSampler', shuffle=True),
            collate_fn=dict(type='default_collate')),
        optim_wrapper=dict(optimizer=dict(type='SGD', lr=0.01, momentum=0.9)),
        param_scheduler=dict(type='MultiStepLR', milestones=[1]),
        train_cfg=dict(by_epoch=True, max_epochs=1),
        default_hooks=dict(
            checkpoint=dict(type='CheckpointHook', interval=1),
            logger=dict(type='LoggerHook', interval=1)),
        randomness=dict(seed=2024),
        cfg=dict(marker='publish-model-test-config'),
    )
    runner.train()
    path = osp.join(str(work_dir), 'epoch_1.pth')
    assert osp.isfile(path)
    return path


def _load_input(path):
    # The test's own freshly written file: trusted.
    return torch.load(path, map_location='cpu', weights_only=False)


def _check_published(final_path, out_stem, in_path):
    name = osp.basename(final_path)
    match = re.fullmatch(
        re.escape(osp.basename(out_stem)) + r'-([0-9a-f]{8})\.pth', name)
    assert match, name
    assert osp.dirname(osp.abspath(final_path)) == osp.dirname(
        osp.abspath(out_stem))
    with open(final_path, 'rb') as f:
        digest = hashlib.sha256(f.read()).hexdigest()
    assert match.group(1) == digest[:8]

    published = torch.load(final_path, weights_only=True)
    assert set(published) == {'meta', 'state_dict'}

    original = _load_input(in_path)
    for key in ('optimizer', 'param_schedulers', 'message_hub'):
        assert key in original  # really was a training checkpoint
        assert key not in published

    assert list(published['state_dict']) == list(original['state_dict'])
    for key, value in original['state_dict'].items():
        out = published['state_dict'][key]
        assert type(out) is torch.Tensor
        assert out.device.type == 'cpu'
        assert out.dtype == value.dtype
        assert torch.equal(out, value.cpu())

    meta = published['meta']
    assert meta['mmvireid_version'] == _expected_version()
    assert meta['cfg'] == original['meta']['cfg']
    assert 'publish-model-test-config' in meta['cfg']
    for key in ('mmengine_version', 'epoch', 'iter', 'seed', 'dataset_meta'):
        assert meta[key] == original['meta'][key], key
    assert meta['seed'] == 2024
    assert meta['epoch'] == 1
    assert meta['dataset_meta'] == dict(classes=('visible', 'infrared'))
    assert not set(meta) - {
        'cfg', 'mmengine_version', 'epoch', 'iter', 'seed', 'dataset_meta',
        'mmvireid_version'
    }
    # No leftover temporary files next to the result.
    assert os.listdir(osp.dirname(osp.abspath(final_path))) == [name]
    return digest


def test_input_needs_the_safe_globals(train_checkpoint):
    tool = _load_tool()
    with pytest.raises(Exception):
        torch.load(train_checkpoint, map_location='cpu', weights_only=True)
    with torch.serialization.safe_globals(
            tool.MMENGINE_CHECKPOINT_SAFE_GLOBALS):
        ckpt = torch.load(
            train_checkpoint, map_location='cpu', weights_only=True)
    from mmengine.logging import HistoryBuffer
    log_scalars = ckpt['message_hub']['log_scalars']
    assert log_scalars
    assert all(isinstance(v, HistoryBuffer) for v in log_scalars.values())
    buffer = next(iter(log_scalars.values()))
    assert buffer.statistics('mean') == buffer.mean()


def test_publish_via_subprocess(train_checkpoint, tmp_path):
    out_stem = str(tmp_path / 'toy_model')
    proc = subprocess.run(
        [sys.executable, TOOL, train_checkpoint, out_stem + '.pth'],
        capture_output=True,
        text=True,
        timeout=TIMEOUT)
    assert proc.returncode == 0, proc.stderr
    final_path = proc.stdout.strip().splitlines()[-1]
    assert osp.isfile(final_path)
    _check_published(final_path, out_stem, train_checkpoint)


def test_publish_via_main(train_checkpoint, tmp_path, capsys):
    tool = _load_tool()
    # No ``.pth`` suffix and a directory that does not exist yet.
    out_stem = str(tmp_path / 'a' / 'b' / 'toy_model')
    final_path = tool.main([train_checkpoint, out_stem])
    assert capsys.readouterr().out.strip() == final_path
    digest = _check_published(final_path, out_stem, train_checkpoint)

    # Same input, same bytes, same name.
    again = tool.main([train_checkpoint, str(tmp_path / 'again.pth')])
    assert osp.basename(again) == f'again-{digest[:8]}.pth'


def test_missing_input(tmp_path):
    missing = str(tmp_path / 'no_such_checkpoint.pth')
    proc = subprocess.run(
        [sys.executable, TOOL, missing,
         str(tmp_path / 'out.pth')],
        capture_output=True,
        text=True,
        timeout=TIMEOUT)
    assert proc.returncode != 0
    assert missing in proc.stderr
    assert 'Traceback' not in proc.stderr
    assert os.listdir(tmp_path) == []


def test_input_without_state_dict(tmp_path, capsys):
    tool = _load_tool()
    bad = str(tmp_path / 'weights_only.pth')
    torch.save(dict(meta=dict(epoch=1), model=dict(w=torch.ones(1))), bad)
    with pytest.raises(SystemExit) as exc_info:
        tool.main([bad, str(tmp_path / 'out.pth')])
    assert exc_info.value.code != 0
    err = capsys.readouterr().err
    assert bad in err
    assert "'state_dict'" in err
    assert "'model'" in err and "'meta'" in err
    assert sorted(os.listdir(tmp_path)) == ['weights_only.pth']


class _EvilGetattr:
    """Pickles as ``getattr(HistoryBuffer, 'update')``."""

    def __reduce__(self):
        from mmengine.logging import HistoryBuffer
        return getattr, (HistoryBuffer, 'update')


def test_restricted_getattr(tmp_path, capsys):
    tool = _load_tool()
    bad = str(tmp_path / 'evil.pth')
    torch.save(dict(state_dict={}, meta=dict(x=_EvilGetattr())), bad)
    with pytest.raises(SystemExit):
        tool.main([bad, str(tmp_path / 'out.pth')])
    err = capsys.readouterr().err
    assert 'statistics methods' in err and 'update' in err


def test_meta_is_reduced_to_builtins(tmp_path):
    import numpy as np
    tool = _load_tool()
    src = str(tmp_path / 'in.pth')
    torch.save(
        dict(
            state_dict=dict(w=nn.Parameter(torch.ones(2))),
            meta=dict(
                epoch=np.int64(3),
                dataset_meta=dict(
                    classes=('a', 'b'), palette=np.zeros((2, 3), np.uint8)),
                hook_msgs=dict(best_score=1.0),
                experiment_name='x'),
            optimizer=dict(state={})), src)
    final_path = tool.publish_model(src, str(tmp_path / 'out.pth'))
    published = torch.load(final_path, weights_only=True)
    assert type(published['state_dict']['w']) is torch.Tensor
    meta = published['meta']
    assert meta['epoch'] == 3 and type(meta['epoch']) is int
    assert meta['dataset_meta'] == dict(
        classes=('a', 'b'), palette=[[0, 0, 0], [0, 0, 0]])
    assert set(meta) == {'epoch', 'dataset_meta', 'mmvireid_version'}
