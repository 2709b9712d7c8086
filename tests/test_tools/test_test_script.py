"""``tools/test.py`` end to end on a generated SynthVI tree."""
import json
import os.path as osp
import subprocess
import sys

import pytest
import torch

from mmvireid.registry import MODELS
from mmvireid.utils import register_all_modules
from tool_scripts import load_tool

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))

CONFIG = """
_base_ = ['{root}/configs/_base_/datasets/synthvi.py',
          '{root}/configs/_base_/default_runtime.py']
data_root = '{data_root}'
generator = dict(num_train_ids=3, num_val_ids=1, num_test_ids=6,
                 images_per_visible_cam=2, images_per_ir_cam=2,
                 height=64, width=32)
img_scale = (32, 64)
test_pipeline = [
    dict(type='LoadVIReIDImage'),
    dict(type='mmcv.Resize', scale=img_scale, keep_ratio=False),
    dict(type='PackVIReIDInputs'),
]
test_dataloader = dict(batch_size=16, dataset=dict(
    data_root=data_root, generator=generator, pipeline=test_pipeline,
    trials=[0, 1, 2]))
test_evaluator = dict(type='VIReIDMetric', cmfp_k=3)
test_cfg = dict()
val_cfg = dict()
model = dict(
    type='ReIDer',
    backbone=dict(type='mmpretrain.ResNet', depth=18, stem_channels=8,
                  base_channels=8, out_indices=(3, )),
    neck=dict(type='mmpretrain.GeneralizedMeanPooling'))
"""


def save_model(path, **model):
    """A randomly initialised ReIDer's checkpoint."""
    register_all_modules()
    torch.manual_seed(0)
    cfg = dict(
        type='ReIDer',
        backbone=dict(
            type='mmpretrain.ResNet',
            depth=18,
            stem_channels=8,
            base_channels=8,
            out_indices=(3, )),
        neck=dict(type='mmpretrain.GeneralizedMeanPooling'))
    cfg.update(model)
    torch.save(dict(state_dict=MODELS.build(cfg).state_dict()), path)


def run_test_script(tmp_path, ckpt, *options):
    cfg_path = tmp_path / 'tiny_synthvi.py'
    cfg_path.write_text(
        CONFIG.format(root=ROOT, data_root=tmp_path / 'synthvi'))
    return subprocess.run([
        sys.executable,
        osp.join(ROOT, 'tools', 'test.py'),
        str(cfg_path),
        str(ckpt), '--work-dir',
        str(tmp_path / 'work'), '--threads', '1', *options
    ],
                          capture_output=True,
                          text=True,
                          timeout=300)


def test_random_model_on_synthvi(tmp_path):
    ckpt = tmp_path / 'random.pth'
    save_model(ckpt)
    out = tmp_path / 'metrics.json'
    proc = run_test_script(tmp_path, ckpt, '--out', str(out))
    assert proc.returncode == 0, proc.stderr[-3000:]
    metrics = json.loads(out.read_text())
    for prefix in ('synthvi-all/', 'synthvi-all/cmfp-'):
        values = [metrics[prefix + k] for k in ('R1', 'R5', 'R10', 'R20')]
        assert all(0 <= v <= 100 for v in values)
        assert values == sorted(values)
        assert 0 < metrics[prefix + 'mAP'] <= 100
        assert 0 < metrics[prefix + 'mINP'] <= metrics[prefix + 'mAP']
    # the log shows the per-trial progress and the checkpoint was used
    log = proc.stdout + proc.stderr
    assert 'trial 3/3' in log
    assert 'Load checkpoint from' in log


def test_a_checkpoint_of_another_model_is_refused(tmp_path):
    """Issue #10, row 2: a checkpoint of another architecture used to be
    evaluated (exit 0, metrics written) with only a warning."""
    ckpt = tmp_path / 'resnet34.pth'
    save_model(
        ckpt,
        backbone=dict(
            type='mmpretrain.ResNet',
            depth=34,
            stem_channels=8,
            base_channels=8,
            out_indices=(3, )))
    out = tmp_path / 'metrics.json'
    proc = run_test_script(tmp_path, ckpt, '--out', str(out))
    assert proc.returncode != 0
    assert f'the checkpoint {ckpt} does not match' in proc.stderr
    assert 'unexpected key' in proc.stderr and '--non-strict' in proc.stderr
    assert not out.exists()
    # the user who means it
    proc = run_test_script(tmp_path, ckpt, '--out', str(out), '--non-strict')
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert out.exists()


def test_an_empty_or_corrupt_checkpoint_is_refused_naming_it(
        tmp_path, monkeypatch):
    """Issue #10, rows 11 and 12: a 0-byte file was a bare EOFError and one
    with changed bytes was evaluated with wrong weights (in-process: the
    refusal comes before any data is read)."""
    empty = tmp_path / 'empty.pth'
    empty.write_bytes(b'')
    flipped = tmp_path / 'flipped.pth'
    save_model(flipped)
    data = bytearray(flipped.read_bytes())
    data[len(data) // 2] ^= 0x01  # in the weights: torch.load accepts it
    flipped.write_bytes(bytes(data))
    torch.load(flipped)
    cfg_path = tmp_path / 'tiny_synthvi.py'
    cfg_path.write_text(
        CONFIG.format(root=ROOT, data_root=tmp_path / 'synthvi'))
    test_script = load_tool('test.py')
    out = tmp_path / 'metrics.json'
    for ckpt, fault in ((empty, 'is empty (0 bytes)'),
                        (flipped, 'is corrupt: the CRC-32')):
        monkeypatch.setattr(sys, 'argv', [
            'test.py',
            str(cfg_path),
            str(ckpt), '--out',
            str(out), '--work-dir',
            str(tmp_path / 'work')
        ])
        with pytest.raises(SystemExit) as exit_info:
            test_script.main()
        assert str(exit_info.value).startswith(
            f'tools/test.py: checkpoint {ckpt} {fault}')
        assert not out.exists()
