"""finish_launch: finished 2-process CPU (gloo) launches always exit 0.

Left to interpreter exit, a rank of a finished gloo run could abort
("terminate called without an active exception", about 1 launch in 16) and
fail the launch; :func:`mmvireid.utils.launch.finish_launch` ends the run
with a barrier, the process group destroyed, the logs flushed and
``os._exit(0)``. Here a small rank script (written into ``tmp_path``) does
what a training rank does at small scale -- gloo initialised through
:func:`~mmvireid.utils.launch.prepare_launch`, a model in
:class:`~mmvireid.models.VIReIDDistributedDataParallel` with a
:class:`~mmvireid.models.ClusterMemory` updated (a collective) in its
forward, forward / backward / SGD steps, mmengine's MMLogger writing to a
file -- and then calls ``finish_launch()``:

- 20 launches in a row must all exit 0 on both ranks, and each rank's work
  must be complete: its marker file, every line of its log file, the lines
  it printed to stdout / stderr right before ``finish_launch()`` (here
  stdout is a file, block-buffered: ``os._exit`` runs no flush of its own),
  and the same memory bank and weights on both ranks. A launch with the
  flushes left out ends the series and must lose its stdout: the check can
  fail.
- One launch through ``python -m torch.distributed.run`` (torchrun).

Every fresh rank process pays ~8 CPU seconds of imports (torch, mmengine,
mmvireid, and ``torch._dynamo``, which DDP's constructor imports) and
torchrun itself imports torch: one torchrun launch of this small script
takes 15-30 s on 2 shared cores, 20 would take minutes. So the 20 launches
are made by one launcher process that imports everything once and forks
the 2 ranks of each launch with torchrun's environment (``RANK``,
``WORLD_SIZE``, ``MASTER_ADDR``, ``MASTER_PORT``..., ``OMP_NUM_THREADS=1``):
gloo, the TCP store, DDP's reducer and the autograd engine all start in the
ranks, and a rank whose ``finish_launch()`` returned would leave through
the whole interpreter shutdown, as at a script's end. The launcher reports
each rank's exit status (``-6`` for an abort); a launch takes ~0.5 s.
"""
import glob
import json
import os
import os.path as osp
import socket
import subprocess
import sys
import time

import pytest

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
REPEATS = 20
STEPS = 3
LOG_LINES = 50
PRINTED_LINES = 30

RANK_SCRIPT = r'''
"""A rank of a 2-process run that ends with finish_launch().

python script.py OUT_DIR MODE
    one rank, as torchrun launches it
python script.py --fork MODES OUT_DIR
    for each comma-separated mode, one 2-process run in OUT_DIR/runNN, the
    ranks forked from this process with torchrun's environment; the exit
    statuses go to OUT_DIR/results.json

MODE: "fixed" -- finish_launch(); "no_exit" -- finish_launch() with
os._exit disabled (the ranks then leave through interpreter shutdown, the
behaviour before the fix); "none" -- no finish_launch() at all (the first
behaviour); "unflushed" -- finish_launch() without its flushes (barrier,
destroy, os._exit at once).
"""
import json
import os
import os.path as osp
import signal
import socket
import sys
import time
import types

import torch
import torch._dynamo  # noqa: F401  (DDP's constructor imports it)
import torch.distributed as dist
import torch.nn as nn
from mmengine.config import Config
from mmengine.logging import MMLogger

from mmvireid.models import (ClusterContrastLoss, ClusterMemory,
                             VIReIDDistributedDataParallel)
from mmvireid.utils import launch

STEPS, LOG_LINES, PRINTED_LINES = {steps}, {log_lines}, {printed_lines}


class Model(nn.Module):

    def __init__(self):
        super().__init__()
        self.linear = nn.Linear(8, 8)
        self.memory = ClusterMemory(8)
        self.loss = ClusterContrastLoss()

    def forward(self, x, labels):
        feats = self.linear(x)
        self.memory.update(feats, labels)  # all_gather of both ranks' rows
        return self.loss(feats, labels, self.memory)


def run_rank(out, mode):
    launch.prepare_launch(Config(dict(launcher='pytorch')), threads=1)
    if not dist.is_initialized():  # with CUDA the Runner would initialise
        dist.init_process_group('gloo')
    rank = dist.get_rank()
    logger = MMLogger.get_instance(
        'finish_launch', log_file=osp.join(out, 'run.log'), distributed=True)
    torch.manual_seed(0)
    model = Model()
    model.memory.reset(torch.randn(12, 8), torch.arange(12) % 4)
    ddp = VIReIDDistributedDataParallel(module=model, device_ids=None)
    optim = torch.optim.SGD(ddp.parameters(), lr=0.1)
    gen = torch.Generator().manual_seed(rank)
    losses = []
    for step in range(STEPS):
        loss = ddp(
            torch.randn(6, 8, generator=gen),
            torch.randint(0, 4, (6, ), generator=gen))
        optim.zero_grad()
        loss.backward()  # DDP's reducer: gloo all-reduce from autograd
        optim.step()
        losses.append(loss.item())
        logger.info(f'rank {{rank}} step {{step}} loss {{loss.item():.4f}}')
    for line in range(LOG_LINES):
        logger.info(f'rank {{rank}} log line {{line}} ' + 'x' * 60)
    with open(osp.join(out, f'rank{{rank}}.done'), 'w') as f:
        json.dump(
            dict(
                losses=losses,
                memory=model.memory.prototypes.sum().item(),
                weight=model.linear.weight.sum().item()), f)
    logger.info(f'rank {{rank}} last log line')
    for line in range(PRINTED_LINES):  # stays in stdout's buffer
        print(f'rank {{rank}} printed line {{line}}.')
    print(f'rank {{rank}} stdout before finish_launch')
    print(f'rank {{rank}} stderr before finish_launch', file=sys.stderr)
    if mode == 'fixed':
        launch.finish_launch()
    elif mode == 'no_exit':
        launch.os = types.SimpleNamespace(_exit=lambda status: None)
        launch.finish_launch()
    elif mode == 'unflushed':
        dist.barrier()
        dist.destroy_process_group()
        os._exit(0)
    elif mode != 'none':
        raise ValueError(mode)
    print(f'rank {{rank}} returned from finish_launch')


def fork_rank(rank, port, out, mode):
    pid = os.fork()
    if pid:
        return pid
    os.environ.update(
        RANK=str(rank), LOCAL_RANK=str(rank), GROUP_RANK='0',
        WORLD_SIZE='2', LOCAL_WORLD_SIZE='2', MASTER_ADDR='127.0.0.1',
        MASTER_PORT=str(port))
    for fd, name in ((1, 'stdout'), (2, 'stderr')):
        file = os.open(
            osp.join(out, f'rank{{rank}}.{{name}}'),
            os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
        os.dup2(file, fd)
        os.close(file)
    run_rank(out, mode)
    # as at a script's end: the whole interpreter shutdown (SystemExit goes
    # up through the launcher's frames, which catch nothing)
    sys.exit(0)


def wait(pid, deadline):
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return os.waitstatus_to_exitcode(status)
        if time.time() > deadline:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            return 'timeout'
        time.sleep(0.01)


def fork_launches(modes, out):
    results = []
    for index, mode in enumerate(modes):
        run = osp.join(out, f'run{{index:02d}}')
        os.makedirs(run)
        with socket.socket() as sock:
            sock.bind(('127.0.0.1', 0))
            port = sock.getsockname()[1]
        sys.stdout.flush()
        sys.stderr.flush()
        start = time.time()
        pids = [fork_rank(rank, port, run, mode) for rank in range(2)]
        codes = [wait(pid, start + 60) for pid in pids]
        results.append(
            dict(run=run, mode=mode, codes=codes, seconds=time.time() - start))
    with open(osp.join(out, 'results.json'), 'w') as f:
        json.dump(results, f)


if __name__ == '__main__':
    if sys.argv[1] == '--fork':
        fork_launches(sys.argv[2].split(','), sys.argv[3])
    else:
        run_rank(sys.argv[1], sys.argv[2])
'''


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        return sock.getsockname()[1]


def _script(tmp_path) -> str:
    path = tmp_path / 'rank_script.py'
    path.write_text(
        RANK_SCRIPT.format(
            steps=STEPS, log_lines=LOG_LINES, printed_lines=PRINTED_LINES))
    return str(path)


def _env() -> dict:
    env = dict(os.environ)
    env['PYTHONPATH'] = ROOT + os.pathsep + env.get('PYTHONPATH', '')
    env['OMP_NUM_THREADS'] = '1'  # as torchrun sets it for its ranks
    env.pop('PYTHONUNBUFFERED', None)  # stdout block-buffered, as in a pipe
    return env


def _run(cmd, timeout):
    return subprocess.run(
        cmd, env=_env(), capture_output=True, text=True, timeout=timeout)


def _check_rank_files(run: str, rank: int) -> dict:
    """The work rank ``rank`` did before ``finish_launch()`` is complete;
    returns its marker."""
    with open(osp.join(run, f'rank{rank}.done')) as f:
        marker = json.load(f)
    assert len(marker['losses']) == STEPS
    logs = glob.glob(osp.join(run, f'run*rank{rank}.log'))
    assert len(logs) == 1, os.listdir(run)
    with open(logs[0]) as f:
        lines = f.read().splitlines()
    for step in range(STEPS):
        assert any(f'rank {rank} step {step} loss' in x for x in lines)
    assert sum(f'rank {rank} log line ' in x for x in lines) == LOG_LINES
    assert lines[-1].endswith(f'rank {rank} last log line'), lines[-1]
    return marker


def _check_printed(stdout: str, stderr: str, rank: int) -> None:
    # (torchrun's ranks write to one pipe: lines of the 2 ranks can mix)
    for line in range(PRINTED_LINES):
        assert f'rank {rank} printed line {line}.' in stdout
    assert f'rank {rank} stdout before finish_launch' in stdout
    assert f'rank {rank} stderr before finish_launch' in stderr
    # finish_launch() ended the process
    assert 'returned from finish_launch' not in stdout


def _check_same_state(markers) -> None:
    """Both ranks did the same DDP / memory steps (a real 2-rank run)."""
    assert markers[0]['memory'] == markers[1]['memory']
    assert markers[0]['weight'] == markers[1]['weight']
    assert markers[0]['losses'] != markers[1]['losses']  # their own batches


def _read(path: str) -> str:
    with open(path) as f:
        return f.read()


def test_finish_launch_returns_without_process_group(monkeypatch):
    import torch.distributed as dist

    from mmvireid.utils import launch

    def no_exit(status):
        raise AssertionError(f'os._exit({status}) in a single process')

    assert not dist.is_initialized()
    monkeypatch.setattr(launch.os, '_exit', no_exit)
    assert launch.finish_launch() is None


def test_repeated_two_process_launches_all_exit_0(tmp_path):
    out = tmp_path / 'launches'
    out.mkdir()
    modes = ['fixed'] * REPEATS + ['unflushed']
    start = time.time()
    cmd = [sys.executable, _script(tmp_path), '--fork', ','.join(modes)]
    proc = _run(cmd + [str(out)], timeout=600)
    total = time.time() - start
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    results = json.loads((out / 'results.json').read_text())
    assert [r['mode'] for r in results] == modes
    print(f'{REPEATS} launches: {total:.1f} s with the imports, '
          f'{sum(r["seconds"] for r in results[:REPEATS]):.1f} s launching')
    failed = [(i, r['codes']) for i, r in enumerate(results[:REPEATS])
              if r['codes'] != [0, 0]]
    assert not failed, '\n'.join(
        f'launch {i}: exit statuses {codes}\n' +
        _read(osp.join(results[i]['run'], 'rank0.stderr'))[-1500:] +
        _read(osp.join(results[i]['run'], 'rank1.stderr'))[-1500:]
        for i, codes in failed)
    for result in results[:REPEATS]:
        run = result['run']
        markers = [_check_rank_files(run, rank) for rank in range(2)]
        _check_same_state(markers)
        for rank in range(2):
            _check_printed(
                _read(osp.join(run, f'rank{rank}.stdout')),
                _read(osp.join(run, f'rank{rank}.stderr')), rank)
    # os._exit without finish_launch's flushes loses the buffered stdout:
    # the check above would see it
    unflushed = results[REPEATS]
    assert unflushed['codes'] == [0, 0]
    for rank in range(2):
        _check_rank_files(unflushed['run'], rank)  # flushed at each record
        stdout = _read(osp.join(unflushed['run'], f'rank{rank}.stdout'))
        assert f'rank {rank} stdout before finish_launch' not in stdout


def test_torchrun_launch_exits_0(tmp_path):
    out = tmp_path / 'torchrun'
    out.mkdir()
    torchrun = [
        sys.executable, '-m', 'torch.distributed.run', '--nproc_per_node=2',
        f'--master_port={_free_port()}'
    ]
    proc = _run(torchrun + [_script(tmp_path), str(out), 'fixed'], timeout=300)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    markers = [_check_rank_files(str(out), rank) for rank in range(2)]
    _check_same_state(markers)
    for rank in range(2):
        _check_printed(proc.stdout, proc.stderr, rank)


if __name__ == '__main__':
    sys.exit(pytest.main([__file__, '-s', '-v']))
