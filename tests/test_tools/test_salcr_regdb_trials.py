"""tools/analysis_tools/salcr_regdb_trials.py: commands and aggregation."""
import json
import os.path as osp

import pytest
from mmengine.config import Config
from tool_scripts import load_tool

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
trials = load_tool('analysis_tools/salcr_regdb_trials.py')
CONFIG = osp.join(ROOT, 'configs', 'salcr', 'regdb.py')


def test_trial_options_reach_every_regdb_dataset():
    cfg = Config.fromfile(CONFIG)
    cfg.merge_from_dict(
        dict(option.split('=') for option in trials.trial_options(7)))
    datasets = [
        cfg.train_dataloader.dataset,
        cfg.custom_hooks.clustering.extract_dataloader.dataset,
        cfg.val_dataloader.dataset, cfg.test_dataloader.dataset
    ]
    assert all(d.type == 'RegDB' and int(d.trial) == 7 for d in datasets)
    with pytest.raises(ValueError, match='1..10'):
        trials.trial_options(11)


def test_commands():
    train = trials.train_command(CONFIG, 3, '/w/trial3', 1, [])
    assert train[1].endswith('tools/train.py') and '--cfg-options' in train
    assert 'train_dataloader.dataset.trial=3' in train
    dist = trials.train_command(CONFIG, 3, '/w/trial3', 4, ['a=1'])
    assert dist[:2] == ['bash', osp.join(ROOT, 'tools', 'dist_train.sh')]
    assert dist[3] == '4' and dist[-1] == 'a=1'
    test = trials.test_command(CONFIG, 3, '/w/ckpt.pth', 't2v', '/w/t2v.json',
                               [])
    assert 'test_dataloader.dataset.direction=t2v' in test
    assert test[test.index('--out') + 1] == '/w/t2v.json'
    with pytest.raises(ValueError, match='direction'):
        trials.test_command(CONFIG, 3, 'c', 'x2y', 'o', [])


def test_finished_trials_are_aggregated(tmp_path, monkeypatch, capsys):
    for trial in (1, 2):
        work = tmp_path / f'trial{trial}'
        work.mkdir()
        ckpt = work / 'epoch_80.pth'
        ckpt.write_bytes(b'')
        (work / 'last_checkpoint').write_text(str(ckpt))
        for direction, value in (('v2t', 80 + trial), ('t2v', 70 + trial)):
            (work / f'{direction}.json').write_text(
                json.dumps({f'regdb-{direction}/mAP': value}))

    def no_run(*args, **kwargs):
        raise AssertionError('finished steps must not run again')

    monkeypatch.setattr(trials.subprocess, 'run', no_run)
    summary = trials.main(['--trials', '1', '2', '--work-dir', str(tmp_path)])
    assert summary['v2t']['regdb-v2t/mAP']['mean'] == 81.5
    assert summary['t2v']['regdb-t2v/mAP']['n'] == 2
