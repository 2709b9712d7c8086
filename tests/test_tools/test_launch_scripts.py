"""Tests for the shell launchers in ``tools/``.

Each script is copied into ``<tmp>/tools/`` next to a fake ``train.py`` /
``test.py`` that only records its argv and distributed environment, so the
real entry points are not needed.
"""
import json
import os
import os.path as osp
import shutil
import socket
import subprocess
import sys

import pytest

REPO_ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
TOOLS_DIR = osp.join(REPO_ROOT, 'tools')
SCRIPTS = ('dist_train.sh', 'dist_test.sh', 'slurm_train.sh', 'slurm_test.sh')
TIMEOUT = 60

FAKE_ENTRY = r'''
import json
import os
import sys

keys = ('RANK', 'LOCAL_RANK', 'WORLD_SIZE', 'MASTER_ADDR', 'MASTER_PORT',
        'PYTHONPATH')
record = dict(argv=sys.argv, env={k: os.environ.get(k) for k in keys})
name = 'rank{}.json'.format(os.environ.get('RANK', 'none'))
with open(os.path.join(os.environ['FAKE_OUT'], name), 'w') as f:
    json.dump(record, f)
'''

FAKE_SRUN = r'''#!/usr/bin/env bash
printf '%s\n' "$@" > "$FAKE_OUT/srun_args.txt"
printf '%s' "${PYTHONPATH:-}" > "$FAKE_OUT/srun_pythonpath.txt"
'''

_LAUNCH_ENV = ('RANK', 'LOCAL_RANK', 'WORLD_SIZE', 'MASTER_ADDR',
               'MASTER_PORT', 'NNODES', 'NODE_RANK', 'PORT', 'GPUS',
               'GPUS_PER_NODE', 'CPUS_PER_TASK', 'SRUN_ARGS', 'PYTHON',
               'TORCHELASTIC_RUN_ID')


def _free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(('', 0))
        return s.getsockname()[1]


@pytest.fixture
def sandbox(tmp_path):
    """``<tmp>/tools`` with the launchers and fake entry points."""
    tools = tmp_path / 'tools'
    tools.mkdir()
    for script in SCRIPTS:
        shutil.copy2(osp.join(TOOLS_DIR, script), tools / script)
    for entry in ('train.py', 'test.py'):
        (tools / entry).write_text(FAKE_ENTRY)
    out = tmp_path / 'out'
    out.mkdir()

    env = {k: v for k, v in os.environ.items() if k not in _LAUNCH_ENV}
    py_dir = osp.dirname(sys.executable)
    env['PATH'] = py_dir + os.pathsep + env.get('PATH', '')
    if not osp.exists(osp.join(py_dir, 'python')):
        env['PYTHON'] = sys.executable
    env['PYTHONPATH'] = '/extra/pythonpath'
    env['FAKE_OUT'] = str(out)
    return tmp_path, env


def _run(script_path, args, env):
    return subprocess.run(['bash', str(script_path), *args],
                          env=env,
                          capture_output=True,
                          text=True,
                          timeout=TIMEOUT)


def _records(out_dir):
    records = {}
    for name in sorted(os.listdir(out_dir)):
        if name.startswith('rank'):
            with open(osp.join(out_dir, name)) as f:
                records[name] = json.load(f)
    return records


def test_scripts_are_executable():
    for script in SCRIPTS:
        path = osp.join(TOOLS_DIR, script)
        assert os.access(path, os.X_OK), f'{path} is not executable'
        with open(path) as f:
            assert f.readline().startswith('#!'), path


@pytest.mark.parametrize('script, positional, entry', [
    ('dist_train.sh', ['cfg.py'], 'train.py'),
    ('dist_test.sh', ['cfg.py', 'ckpt.pth'], 'test.py'),
])
@pytest.mark.parametrize('set_port', [True, False])
def test_dist_launchers(sandbox, script, positional, entry, set_port):
    root, env = sandbox
    holder = None
    if set_port:
        port = _free_port()
        env['PORT'] = str(port)
    else:
        # Keep the usual fixed default (29500) busy: the launcher must
        # still start, on a port it found free.
        holder = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            holder.bind(('', 29500))
            holder.listen(1)
        except OSError:  # already taken by someone else: just as good
            holder.close()
            holder = None
    try:
        proc = _run(root / 'tools' / script,
                    [*positional, '2', '--foo', 'bar'], env)
    finally:
        if holder is not None:
            holder.close()
    assert proc.returncode == 0, proc.stdout + proc.stderr

    records = _records(root / 'out')
    assert sorted(records) == ['rank0.json', 'rank1.json']
    ports = set()
    for rank, record in enumerate(records[f'rank{i}.json'] for i in range(2)):
        argv = record['argv']
        assert osp.samefile(argv[0], root / 'tools' / entry)
        assert argv[1:] == [
            *positional, '--launcher', 'pytorch', '--foo', 'bar'
        ]
        rec_env = record['env']
        assert rec_env['RANK'] == str(rank)
        assert rec_env['LOCAL_RANK'] == str(rank)
        assert rec_env['WORLD_SIZE'] == '2'
        assert rec_env['MASTER_ADDR'] == '127.0.0.1'
        ports.add(int(rec_env['MASTER_PORT']))
        # Repository root (tools/..) first, the caller's PYTHONPATH kept.
        paths = rec_env['PYTHONPATH'].split(os.pathsep)
        assert osp.samefile(paths[0], root)
        assert '/extra/pythonpath' in paths
    assert len(ports) == 1
    port_used = ports.pop()
    if set_port:
        assert port_used == port
    else:
        assert port_used != 29500
        assert 1024 <= port_used <= 65535


@pytest.mark.parametrize('script, args', [
    ('dist_train.sh', []),
    ('dist_train.sh', ['cfg.py']),
    ('dist_test.sh', ['cfg.py', 'ckpt.pth']),
    ('slurm_train.sh', ['partition', 'job', 'cfg.py']),
    ('slurm_test.sh', ['partition', 'job', 'cfg.py']),
])
def test_usage_on_missing_args(sandbox, script, args):
    root, env = sandbox
    proc = _run(root / 'tools' / script, args, env)
    assert proc.returncode == 2
    assert 'Usage' in proc.stderr
    assert script in proc.stderr
    assert os.listdir(root / 'out') == []


@pytest.mark.parametrize('script, fourth, entry, expected_tail', [
    ('slurm_train.sh', 'work_dirs/x', 'train.py',
     ['cfg.py', '--work-dir=work_dirs/x', '--launcher', 'slurm']),
    ('slurm_test.sh', 'ckpt.pth', 'test.py',
     ['cfg.py', 'ckpt.pth', '--launcher', 'slurm']),
])
def test_slurm_launchers(sandbox, script, fourth, entry, expected_tail):
    root, env = sandbox
    bin_dir = root / 'bin'
    bin_dir.mkdir()
    srun = bin_dir / 'srun'
    srun.write_text(FAKE_SRUN)
    srun.chmod(0o755)
    env['PATH'] = str(bin_dir) + os.pathsep + env['PATH']
    env.update(
        GPUS='2', CPUS_PER_TASK='3', SRUN_ARGS='--quotatype=auto --time=5')
    env['PYTHON'] = 'mypython'

    proc = _run(root / 'tools' / script,
                ['part', 'job', 'cfg.py', fourth, '--foo', 'bar'], env)
    assert proc.returncode == 0, proc.stdout + proc.stderr

    args = (root / 'out' / 'srun_args.txt').read_text().splitlines()
    python_at = args.index('mypython')
    assert args[:python_at] == [
        '-p', 'part', '--job-name=job', '--gres=gpu:2', '--ntasks=2',
        '--ntasks-per-node=2', '--cpus-per-task=3', '--kill-on-bad-exit=1',
        '--quotatype=auto', '--time=5'
    ]
    assert args[python_at + 1] == '-u'
    assert osp.samefile(args[python_at + 2], root / 'tools' / entry)
    assert args[python_at + 3:] == [*expected_tail, '--foo', 'bar']
    pythonpath = (root / 'out' / 'srun_pythonpath.txt').read_text()
    assert osp.samefile(pythonpath.split(os.pathsep)[0], root)


def test_slurm_without_srun(sandbox):
    root, env = sandbox
    if shutil.which('srun', path=env['PATH']):
        pytest.skip('a real srun is installed')
    proc = _run(root / 'tools' / 'slurm_train.sh',
                ['part', 'job', 'cfg.py', 'wd'], env)
    assert proc.returncode == 127
    assert 'srun' in proc.stderr
