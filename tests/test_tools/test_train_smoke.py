"""``tools/train.py`` on a tiny SynthVI tree: the training mechanics."""
import json
import os
import os.path as osp
import re
import signal
import socket
import subprocess
import sys

import pytest
import torch

from mmvireid.utils import load_checkpoint_file

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
CONFIG = osp.join(ROOT, 'tests', 'data', 'configs', 'synthvi_smoke.py')


def data_options(data):
    extraction = 'custom_hooks.clustering.extract_dataloader.dataset'
    return [
        '--cfg-options', f'train_dataloader.dataset.data_root={data}',
        f'{extraction}.data_root={data}',
        f'test_dataloader.dataset.data_root={data}',
        f'val_dataloader.dataset.data_root={data}'
    ]


def run(cmd, env=None):
    return subprocess.run(
        cmd, capture_output=True, text=True, timeout=600, env=env)


def test_smoke_training_runs_the_whole_loop(tmp_path):
    work = tmp_path / 'work'
    # spaces and non-ASCII characters reach the dataset intact through
    # --cfg-options (issue #10, row 7: mmengine's DictAction removed them)
    data = tmp_path / 'my data ñ' / '行人 synthvi'
    proc = run([
        sys.executable,
        osp.join(ROOT, 'tools', 'train.py'), CONFIG, '--work-dir',
        str(work), '--threads', '2'
    ] + data_options(data))
    log = proc.stdout + proc.stderr
    assert proc.returncode == 0, log[-4000:]
    # the hooks fired every epoch; the stage switch at epoch 2 started the
    # association and the SALCR terms (parts, instances)
    assert len(re.findall(r'epoch \d clustering: visible: \d+ clusters',
                          log)) == 3
    assert len(re.findall(r'epoch \d association: infrared->visible',
                          log)) == 2
    assert "epoch 2: stage 'cross' (re-initialised: head.part_head, " \
        "optimiser state cleared, sampler mode 'paired')" in log
    stage1 = re.findall(r'Epoch\(train\) \[1\]\[\d/4\].*', log)
    stage2 = re.findall(r'Epoch\(train\) \[3\]\[\d/4\].*', log)
    assert stage1 and not any('loss_part' in line for line in stage1)
    for key in ('loss_cross_visible', 'loss_part_visible',
                'loss_part_infrared', 'loss_gpcr_global', 'loss_gpcr_part'):
        values = [
            float(v) for line in stage2
            for v in re.findall(key + r': ([0-9.]+)', line)
        ]
        assert len(values) == 4 and all(0 < v < 1e3 for v in values), key
    # losses are finite and logged each iteration
    losses = [float(x) for x in re.findall(r' loss: ([0-9.]+)', log)]
    assert len(losses) >= 10 and all(v == v and v < 1e4 for v in losses)
    # the evaluation ran with the SYSU protocol on 2 trials
    assert 'synthvi-all trial 2/2' in log
    scalars = [
        json.loads(line)
        for line in open(next(work.glob('*/vis_data/scalars.json')))
    ]
    final = [s for s in scalars if 'synthvi-all/mAP' in s]
    assert final and 0 < final[-1]['synthvi-all/mAP'] <= 100
    assert (work / 'epoch_3.pth').exists()
    assert (data / 'synthvi_manifest.json').is_file()
    assert not (tmp_path / 'mydatañ').exists()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        return sock.getsockname()[1]


def dist_train(work, options, port=None):
    """``tools/dist_train.sh`` with 2 CPU processes, as a Popen."""
    return subprocess.Popen(
        [
            'bash',
            osp.join(ROOT, 'tools', 'dist_train.sh'), CONFIG, '2',
            '--work-dir',
            str(work), '--threads', '1'
        ] + options,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
        env=dict(os.environ, PORT=str(port or free_port())))


def kill_run(work) -> None:
    """kill -9 of every process of a run (the ranks live in sessions of
    their own, so the launcher's process group is not enough): those whose
    command line names its work dir."""
    pids = subprocess.run(['pgrep', '-f', str(work)],
                          capture_output=True,
                          text=True).stdout.split()
    for pid in pids:
        try:
            os.kill(int(pid), signal.SIGKILL)
        except ProcessLookupError:
            pass


def final_metrics(log):
    return {
        key: re.findall(rf'synthvi-all/{key}: ([0-9.]+)', log)[-1]
        for key in ('mAP', 'R1', 'cmfp-mAP')
    }


@pytest.fixture(scope='module')
def ddp_run(tmp_path_factory):
    """An uninterrupted 2-process run of the smoke config (3 epochs)."""
    root = tmp_path_factory.mktemp('ddp')
    proc = dist_train(root / 'two', data_options(root / 'synthvi'))
    log = proc.communicate(timeout=600)[0]
    assert proc.returncode == 0, log[-3000:]
    return root, log


def test_two_cpu_processes_label_as_one(ddp_run):
    """tools/dist_train.sh on CPU (gloo): epoch-1 labels as with 1 process."""
    root, log = ddp_run
    assert 'using the gloo backend' in log
    single = run([
        sys.executable,
        osp.join(ROOT, 'tools', 'train.py'), CONFIG, '--work-dir',
        str(root / 'one'), '--threads', '1'
    ] + data_options(root / 'synthvi') + ['train_cfg.max_epochs=1'])
    assert single.returncode == 0, (single.stdout + single.stderr)[-3000:]
    labels = [
        load_checkpoint_file(str(root / run_dir /
                                 'epoch_1.pth'))['clustering']['labels']
        for run_dir in ('one', 'two')
    ]
    assert torch.equal(labels[0], labels[1])
    assert (labels[0] >= 0).any()


def test_two_process_validation_is_the_checkpoint_s(ddp_run):
    """The mAP a 2-process run logs is the one tools/test.py gives its
    checkpoint (every rank extracts with rank 0's BN statistics)."""
    root, log = ddp_run
    tested = run([
        sys.executable,
        osp.join(ROOT, 'tools', 'test.py'), CONFIG,
        str(root / 'two' / 'epoch_3.pth'), '--work-dir',
        str(root / 'test'), '--threads', '1'
    ] + data_options(root / 'synthvi'))
    assert tested.returncode == 0, (tested.stdout + tested.stderr)[-3000:]
    assert final_metrics(log) == final_metrics(tested.stdout + tested.stderr)


def test_two_process_run_killed_mid_epoch_resumes_exactly(ddp_run):
    """kill -9 of both ranks in the middle of epoch 3, then --resume: the
    same weights, memories, labels and mAP as the uninterrupted run."""
    root, full_log = ddp_run
    work = root / 'killed'
    options = data_options(root / 'synthvi')
    proc = dist_train(work, options)
    seen = []
    for line in proc.stdout:
        seen.append(line)
        if re.search(r'Epoch\(train\) \[3\]\[2/4\]', line):
            kill_run(work)
            break
    proc.wait(timeout=60)
    assert proc.returncode != 0, ''.join(seen)[-3000:]
    assert not (work / 'epoch_3.pth').exists()
    resumed = dist_train(work, options + ['--resume'])
    log = resumed.communicate(timeout=600)[0]
    assert resumed.returncode == 0, log[-3000:]
    assert 'resumed epoch: 2' in log
    want = load_checkpoint_file(str(root / 'two' / 'epoch_3.pth'))
    got = load_checkpoint_file(str(work / 'epoch_3.pth'))
    assert any('memories' in key for key in want['state_dict'])
    for key, value in want['state_dict'].items():
        assert torch.equal(value, got['state_dict'][key]), key
    assert torch.equal(want['clustering']['labels'],
                       got['clustering']['labels'])
    assert final_metrics(full_log) == final_metrics(log)


def test_resume_after_interruption_continues_exactly(tmp_path):
    """Stopped after epoch 1 (before the stage switch), resumed to epoch 2
    (through the switch), stopped, resumed to the end (after the switch):
    the same weights, memories, labels and mAP as an uninterrupted run."""
    data = tmp_path / 'synthvi'
    train = [
        sys.executable,
        osp.join(ROOT, 'tools', 'train.py'), CONFIG, '--threads', '1'
    ]
    full = run(train + ['--work-dir', str(tmp_path / 'full')] +
               data_options(data))
    assert full.returncode == 0, (full.stdout + full.stderr)[-3000:]
    part = tmp_path / 'part'
    first = run(train + ['--work-dir', str(part)] + data_options(data) +
                ['train_cfg.max_epochs=1'])
    assert first.returncode == 0, (first.stdout + first.stderr)[-3000:]
    for epoch, max_epochs in ((1, 2), (2, 3)):
        resumed = run(train + [
            '--work-dir',
            str(part), '--resume',
            str(part / f'epoch_{epoch}.pth')
        ] + data_options(data) + [f'train_cfg.max_epochs={max_epochs}'])
        log = resumed.stdout + resumed.stderr
        assert resumed.returncode == 0, log[-3000:]
        assert f'resumed epoch: {epoch}' in log
        assert ("stage 'cross' (" in log) == (epoch == 1)
    want = load_checkpoint_file(str(tmp_path / 'full' / 'epoch_3.pth'))
    got = load_checkpoint_file(str(part / 'epoch_3.pth'))
    assert any('part_head' in key for key in want['state_dict'])
    for key, value in want['state_dict'].items():
        assert torch.equal(value, got['state_dict'][key]), key
    assert torch.equal(want['clustering']['labels'],
                       got['clustering']['labels'])
    mAP = re.findall(r'synthvi-all/mAP: ([0-9.]+)', full.stdout + full.stderr)
    assert mAP and mAP[-1] == re.findall(r'synthvi-all/mAP: ([0-9.]+)',
                                         log)[-1]
