"""tools/analysis_tools/profile_train_step.py: statistics, sync counting and
one tiny SynthVI run of this tree."""
import json
import os.path as osp

import pytest
import torch
from tool_scripts import ROOT, load_tool
from torch.profiler import ProfilerActivity, profile, record_function

tool = load_tool('analysis_tools/profile_train_step.py')
SMOKE = 'tests/data/configs/synthvi_smoke.py'


def test_summarise_and_round_starts():
    stats = tool.summarise([1.0, 2.0, 3.0, 4.0])
    # numpy's linear quartiles: 1.75 and 3.25
    assert stats == dict(n=4, median=2.5, q1=1.75, q3=3.25, iqr=1.5, mean=2.5)
    assert tool.summarise([])['n'] == 0
    # 2 warm-up steps, 10 measured in 5 rounds of 2, then the profiled round
    assert tool.round_starts(2, 10, 5, profile_iters=2) == [2, 4, 6, 8, 10, 12]
    assert tool.round_starts(2, 10, 5) == [2, 4, 6, 8, 10]
    assert tool.round_starts(1, 5, 2, profile_iters=1) == [1, 4, 6]
    assert tool.round_starts(0, 1, 1) == [0]


def test_labels_and_per_tree_options():
    args = tool.parse_args([
        '--tree', 'a', '--tree', 'b', '--label', 'x', '--label', 'y',
        '--stage', 'paired', '--cfg-options', 'k=1', '--tree-cfg-options', 'y',
        'k=2', 'j=3'
    ])
    assert args.rounds == 5
    assert tool.tree_options(args, ['x', 'y']) == dict(
        x=tool.PAIRED_OPTIONS + ['k=1'],
        y=tool.PAIRED_OPTIONS + ['k=1', 'k=2', 'j=3'])
    with pytest.raises(SystemExit, match='no tree of that label'):
        tool.tree_options(args, ['x', 'z'])
    # not a git tree: '?', and a repeated label is numbered
    missing = osp.join(ROOT, 'no_such_tree')
    assert tool.tree_labels([missing, missing], None) == ['?', '?#2']
    assert tool.tree_labels(['t', 't'], ['a', 'a']) == ['a', 'a#2']


def test_analyse_profile_counts_each_sync_once_inside_the_steps():
    x = torch.arange(6.)
    outside = torch.zeros(3)

    def step():
        x.sum().item()  # item
        if (x > 2).any():  # item: bool() of a tensor
            pass
        x[x > 2]  # nonzero: boolean-mask indexing
        torch.tensor([1, 2])  # from_host
        x.tolist()  # to_cpu
        torch.unique(x)  # dyn_shape (whatever it calls inside)

    with profile(activities=[ProfilerActivity.CPU], with_stack=True) as prof:
        outside[outside > 0]  # outside the step windows: not counted
        for _ in range(2):
            with record_function(tool.STEP_RANGE):
                step()
            outside.sum().item()
    result = tool.analyse_profile(prof.events(), 2)
    assert result['syncs'] == dict(
        item=2, nonzero=1, to_cpu=1, from_host=1, dyn_shape=1, total=6)
    assert result['by_origin']['other'] == 6
    assert result['raw_ops']['aten::item'] == 2
    assert result['raw_ops']['aten::nonzero'] >= 1
    # every site names the calling function, past torch's wrappers
    assert all('test_profile_train_step.py' in site['site']
               for site in result['sites']), result['sites']
    assert result['top_ops'] and result['window_ms'] > 0
    with pytest.raises(RuntimeError, match='2 profiled step windows'):
        tool.analyse_profile(prof.events(), 3)


def test_one_tree_on_the_smoke_config(tmp_path, capsys):
    """The worker trains this tree's smoke config for 1 measured and 1
    profiled step; the JSON has the step times and sync counts."""
    data = tmp_path / 'synthvi'
    extraction = 'custom_hooks.clustering.extract_dataloader.dataset'
    results = tool.main([
        '--tree', ROOT, '--label', 'this', '--config', SMOKE, '--stage',
        'intra', '--warmup', '0', '--iters', '1', '--profile-iters', '1',
        '--threads', '2', '--out',
        str(tmp_path / 'out'), '--cfg-options',
        f'train_dataloader.dataset.data_root={data}',
        f'{extraction}.data_root={data}'
    ])
    with open(tmp_path / 'out' / 'intra.json') as f:
        saved = json.load(f)
    assert saved['table'] == results['table']
    run = saved['runs']['this']
    assert run['package'].startswith(osp.realpath(ROOT))
    assert [s['phase'] for s in run['steps']] == ['timed', 'profiled']
    assert all(s['ms'] > 0 for s in run['steps'])
    assert run['step_ms']['n'] == 1
    assert run['step_ms']['median'] == run['steps'][0]['ms']
    assert 'loss_visible' in run['loss_keys']
    profiled = run['profile']
    assert profiled['steps'] == 1
    assert set(profiled['syncs']) == set(tool.KINDS) | {'total'}
    assert profiled['syncs']['total'] == sum(profiled['syncs'][k]
                                             for k in tool.KINDS)
    # mmengine's RuntimeInfoHook reads every logged loss with .item()
    assert profiled['by_origin']['mmengine'] >= len(run['loss_keys'])
    assert len(profiled['top_ops']) == 10
    out = capsys.readouterr().out
    assert '| this |' in out and 'most frequent sync sites' in out
