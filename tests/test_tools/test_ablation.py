"""tools/analysis_tools/ablation.py: the spec (SALCR's and a second, fake
method's), reading runs, the table, the bar check, the README update and
resumption (the training runs themselves are faked)."""
import json
import os
import os.path as osp
import re
import subprocess
import sys
import types

import pytest
import yaml
from tool_scripts import load_tool

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))

ablation = load_tool('analysis_tools/ablation.py')


def fake_run(work_dir,
             mAP,
             assoc=None,
             legacy=False,
             prefix='synthvi-all',
             pairs=('infrared->visible', 'visible->infrared')):
    """A finished run: scalars.json with a final validation and a log whose
    association lines give ``assoc`` for ``pairs[0]`` (0.2 for the rest)."""
    run = osp.join(work_dir, '20261130_000000')
    os.makedirs(osp.join(run, 'vis_data'))
    record = {
        f'{prefix}/R1': mAP + 5,
        f'{prefix}/mAP': mAP,
        f'{prefix}/mINP': mAP - 10,
        f'{prefix}/cmfp-mAP': mAP + 12,
        f'{prefix}/cmfp-k': 10,
        'step': 8
    }
    if legacy:  # a second VIReIDMetric(cmfp_k=10, prefix='cmfp-te')
        del record[f'{prefix}/cmfp-mAP'], record[f'{prefix}/cmfp-k']
        record.update({'cmfp-te/mAP': mAP, 'cmfp-te/cmfp-mAP': mAP + 12})
    with open(osp.join(run, 'vis_data', 'scalars.json'), 'w') as f:
        f.write(json.dumps(dict(loss=3.0, step=1)) + '\n')
        f.write(json.dumps(record) + '\n')
    with open(osp.join(run, '20261130_000000.log'), 'w') as f:
        if assoc is not None:
            for acc in (0.1, assoc):
                parts = [f'{pairs[0]} accuracy {acc:.3f} (chance 0.0050)'] + [
                    f'{pair} accuracy 0.2 (chance 0.0050)'
                    for pair in pairs[1:]
                ]
                f.write('epoch 3 association: ' + '; '.join(parts) +
                        ' [0.3 s]\n')


# ---------------------------------------------------------------- SALCR


def salcr():
    return ablation.load_spec(osp.join(ROOT, 'configs', 'salcr'))


def test_salcr_spec_holds_the_rows_and_the_bar_of_issue_3():
    spec = salcr()
    assert [(r.key, r.label, r.config) for r in spec.rows] == [
        ('baseline', 'baseline', 'configs/salcr/synthvi_baseline.py'),
        ('dagl', '+DAGL', 'configs/salcr/synthvi_dagl.py'),
        ('fgsal', '+FGSAL', 'configs/salcr/synthvi_dagl_fgsal.py'),
        ('gpcr', '+GPCR', 'configs/salcr/synthvi_dagl_fgsal_gpcr.py'),
        ('full', '+CMFP(tr) = full', 'configs/salcr/synthvi.py'),
        ('ceiling', 'ceiling (true ids)', 'configs/salcr/synthvi_ceiling.py'),
    ]
    assert (spec.baseline, spec.full, spec.ceiling) == ('baseline', 'full',
                                                        'ceiling')
    assert [(b.type, b.row, b.threshold)
            for b in spec.bars] == [('gain', 'full', 10),
                                    ('gain_over_std', 'full', 3),
                                    ('gain', 'dagl', 5),
                                    ('association', 'full', 20)]
    assert spec.metric_prefix == 'synthvi-all'
    assert spec.association == 'infrared->visible'
    assert spec.work_dir == 'work_dirs/salcr_ablation'


def test_salcr_readme_table_is_the_specs():
    """The README's table has the spec's rows in order, between the spec's
    markers, and names this script as its producer."""
    spec = salcr()
    with open(osp.join(ROOT, 'configs', 'salcr', 'README.md')) as f:
        text = f.read()
    start, end = spec.readme_markers
    block = text.split(start, 1)[1].split(end, 1)[0]
    labels = re.findall(r'^\| (.+?) \|', block, flags=re.M)[2:]
    assert labels == [row.label for row in spec.rows]
    assert 'python tools/analysis_tools/ablation.py configs/salcr ' in block
    assert '- full − baseline = ' in block  # the bar lines' wording


def test_read_run(tmp_path):
    assert ablation.read_run(str(tmp_path)) is None
    fake_run(str(tmp_path), 40.0, assoc=0.5)
    got = ablation.read_run(str(tmp_path))
    assert got['mAP'] == 40.0 and got['R1'] == 45.0
    assert got['assoc'] == pytest.approx(50.0)  # the last association line
    assert got['chance'] == pytest.approx(0.5)
    assert 'step' not in got
    assert got['te_mAP'] == 52.0  # test-time CMFP of the same model


def test_read_run_of_the_two_metric_configs(tmp_path):
    fake_run(str(tmp_path), 40.0, legacy=True)
    got = ablation.read_run(str(tmp_path))
    assert got['mAP'] == 40.0 and got['te_mAP'] == 52.0
    assert not any(k.startswith('cmfp-te') for k in got)


def test_read_run_takes_the_named_pair_wherever_it_is_on_the_line(tmp_path):
    """Three modalities log several pairs; the spec's pair is read, not the
    first one, and another prefix's metrics are not mixed in."""
    fake_run(
        str(tmp_path),
        40.0,
        assoc=0.5,
        prefix='fake-all',
        pairs=('augmented->infrared', 'visible->infrared',
               'infrared->visible'))
    assert ablation.read_run(str(tmp_path)) is None  # not synthvi-all
    got = ablation.read_run(
        str(tmp_path),
        metric_prefix='fake-all',
        association='infrared->visible')
    assert got['mAP'] == 40.0 and got['te_mAP'] == 52.0
    assert got['assoc'] == pytest.approx(20.0)  # its pair, not the first
    got = ablation.read_run(
        str(tmp_path), 'fake-all', association='augmented->infrared')
    assert got['assoc'] == pytest.approx(50.0)
    assert 'assoc' not in ablation.read_run(
        str(tmp_path), 'fake-all', 'visible->augmented')


def test_table_and_bar():
    spec = salcr()
    runs = {
        'baseline':
        [dict(R1=50, mAP=40, mINP=30),
         dict(R1=52, mAP=42, mINP=31)],
        'dagl': [dict(R1=56, mAP=46, mINP=33),
                 dict(R1=58, mAP=48, mINP=34)],
        'full': [
            dict(R1=60, mAP=52, mINP=40, assoc=60.0, chance=0.5, te_mAP=60),
            dict(R1=62, mAP=54, mINP=41, assoc=62.0, chance=0.5, te_mAP=64)
        ],
    }
    summary = ablation.summarise(runs)
    assert summary['baseline']['mAP'] == pytest.approx((41.0, 2**0.5))
    table = ablation.format_table(summary, spec)
    assert '| baseline | 51.0 ± 1.4 | 41.0 ± 1.4 |' in table
    assert '| +CMFP(tr) = full |' in table and '+12.0' in table
    assert '61.0 (0.50)' in table and '52.0 / 54.0 | 62.0 ± 2.8 |' in table
    assert '40.0 / 42.0 | – |' in table  # no CMFP(te) result
    assert table.index('| +DAGL |') < table.index('| +CMFP(tr) = full |')
    assert '+FGSAL' not in table  # rows that did not run
    bar = '\n'.join(ablation.check_bar(summary, spec))
    assert bar.split('\n') == [
        'full − baseline = +12.0 mAP (bar ≥ +10): met',
        'gap / largest seed std = 12.0 / 1.4 (bar > 3×): met',
        '+DAGL − baseline = +6.0 mAP (bar ≥ +5): met',
        'association accuracy = 122× chance (bar ≥ 20×): met'
    ]
    runs['dagl'] = [dict(R1=1, mAP=43, mINP=1)]
    bar = '\n'.join(ablation.check_bar(ablation.summarise(runs), spec))
    assert '+DAGL − baseline = +2.0 mAP (bar ≥ +5): NOT met' in bar
    del runs['baseline']  # nothing to compare against: only association
    assert ablation.check_bar(ablation.summarise(runs), spec) == [
        'association accuracy = 122× chance (bar ≥ 20×): met'
    ]


def test_write_readme_between_markers(tmp_path):
    readme = tmp_path / 'README.md'
    readme.write_text('# t\n<!-- ablation-table -->\nold\n'
                      '<!-- /ablation-table -->\ntail\n')
    ablation.write_readme(str(readme), 'NEW TABLE')
    assert readme.read_text() == ('# t\n<!-- ablation-table -->\nNEW TABLE\n'
                                  '<!-- /ablation-table -->\ntail\n')
    bad = tmp_path / 'bad.md'
    bad.write_text('no markers')
    with pytest.raises(ValueError, match='bad.md lacks the markers'):
        ablation.write_readme(str(bad), 'x')
    bad.write_text('<!-- /ablation-table -->\n<!-- ablation-table -->\n')
    with pytest.raises(ValueError, match='markers'):  # end before start
        ablation.write_readme(str(bad), 'x')


def no_training(*args, **kwargs):
    raise AssertionError('a run was trained')


def test_finished_runs_are_not_rerun(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(ROOT)
    fake_run(str(tmp_path / 'synthvi_baseline_seed0'), 41.0)
    monkeypatch.setattr(ablation.subprocess, 'run', no_training)
    summary = ablation.main([
        'configs/salcr', '--rows', 'baseline', '--seeds', '0', '--work-dir',
        str(tmp_path)
    ])
    assert summary['baseline']['mAP'][0] == 41.0
    out = capsys.readouterr().out
    assert 'baseline seed 0: mAP 41.00 R1 46.00\n' in out  # no seconds
    assert ('Produced by `python tools/analysis_tools/ablation.py '
            f'configs/salcr --rows baseline --seeds 0 --work-dir {tmp_path}`'
            in out)


def test_bad_rows_and_readme_stop_before_any_training(tmp_path, monkeypatch,
                                                      capsys):
    monkeypatch.chdir(ROOT)
    monkeypatch.setattr(ablation.subprocess, 'run', no_training)
    with pytest.raises(SystemExit):
        ablation.main(['configs/salcr', '--rows', 'full', 'vra'])
    err = capsys.readouterr().err
    assert '--rows vra: not a row of configs/salcr/ablation.yml' in err
    assert 'baseline dagl fgsal gpcr full ceiling' in err
    readme = tmp_path / 'README.md'
    readme.write_text('no markers')
    with pytest.raises(SystemExit):
        ablation.main(['configs/salcr', '--readme', str(readme)])
    assert 'README.md lacks the markers' in capsys.readouterr().err


# ------------------------------------------- a second method, from data

MCF_LIKE = (('baseline', 'intra only', 'fake_baseline.py',
             30.0), ('pa', '+PA-CBAM', 'fake_pa.py',
                     34.0), ('vra', '+VRA', 'fake_vra.py', 37.0),
            ('full', '+UM = full', 'fake_full.py',
             39.0), ('ceiling', 'ceiling', 'fake_ceiling.py', 60.0))


def fake_method(tmp_path, **changes):
    """configs/fake/ablation.yml with its own rows, roles, bars, prefix,
    association pair, markers and work dir (none of them SALCR's)."""
    folder = tmp_path / 'configs' / 'fake'
    folder.mkdir(parents=True, exist_ok=True)
    for _, _, config, _ in MCF_LIKE:
        (folder / config).write_text("_base_ = ['./fake_base.py']\n")
    spec = dict(
        rows=[
            dict(key=key, label=label, config=str(folder / config))
            for key, label, config, _ in MCF_LIKE
        ],
        baseline='baseline',
        full='full',
        ceiling='ceiling',
        bars=[
            dict(type='gain', row='full', min=8),
            dict(type='gain_over_std', row='full', factor=10),
            dict(type='gain', row='vra', min=7.5),
            dict(type='association', row='vra', factor=150),
        ],
        metric_prefix='fake-all',
        association='augmented->infrared',
        readme_markers=['<!-- fake-rows -->', '<!-- /fake-rows -->'],
        work_dir='runs/fake')
    spec.update(changes)
    (folder / 'ablation.yml').write_text(yaml.safe_dump(spec))
    return folder


def test_a_second_method_runs_from_its_spec(tmp_path, monkeypatch, capsys):
    folder = fake_method(tmp_path)
    monkeypatch.chdir(tmp_path)
    readme = tmp_path / 'README.md'
    readme.write_text('# fake\n<!-- ablation-table -->\nSALCR\n'
                      '<!-- /ablation-table -->\n<!-- fake-rows -->\nold\n'
                      '<!-- /fake-rows -->\nend\n')
    mAPs = {config: mAP for _, _, config, mAP in MCF_LIKE}
    commands = []

    def fake_training(cmd, cwd, stdout, stderr):
        """tools/train.py: a finished run with the config's mAP + seed."""
        commands.append(cmd)
        work_dir = cmd[cmd.index('--work-dir') + 1]
        seed = int(cmd[cmd.index('--cfg-options') + 1].split('=')[1])
        fake_run(
            work_dir,
            mAPs[osp.basename(cmd[2])] + seed,
            assoc=0.8,
            prefix='fake-all',
            pairs=('augmented->infrared', 'infrared->visible'))
        return types.SimpleNamespace(returncode=0)

    monkeypatch.setattr(ablation.subprocess, 'run', fake_training)
    summary = ablation.main([
        str(folder), '--rows', 'full', 'baseline', 'vra', '--seeds', '0', '2',
        '--threads', '3', '--readme',
        str(readme), '--cfg-options', 'train_cfg.max_epochs=1'
    ])
    assert sorted(summary) == ['baseline', 'full', 'vra']
    assert len(commands) == 6
    assert commands[0][1:] == [
        osp.join(ROOT, 'tools', 'train.py'),
        str(folder / 'fake_baseline.py'), '--work-dir',
        str(tmp_path / 'runs' / 'fake' / 'fake_baseline_seed0'), '--threads',
        '3', '--cfg-options', 'randomness.seed=0', 'train_cfg.max_epochs=1'
    ]
    text = readme.read_text()
    assert text.startswith('# fake\n<!-- ablation-table -->\nSALCR\n')
    block = text.split('<!-- fake-rows -->\n')[1].split('<!-- /fake-rows')[0]
    rows = re.findall(r'^\| (.+?) \|', block, flags=re.M)[2:]
    assert rows == ['intra only', '+VRA', '+UM = full']  # the spec's order
    assert '| intra only | 36.0 ± 1.4 | 31.0 ± 1.4 | 21.0 ± 1.4 | – |' in block
    assert '| +VRA |' in block and '| +7.0 | 80.0 (0.50) | 37.0 / 39.0 |' \
        in block
    assert '| +9.0 |' in block and '| 52.0 ± 1.4 |' in block
    assert block.rstrip('\n').split('\n')[-4:] == [
        '- full − baseline = +9.0 mAP (bar ≥ +8): met',
        '- gap / largest seed std = 9.0 / 1.4 (bar > 10×): NOT met',
        '- +VRA − baseline = +7.0 mAP (bar ≥ +7.5): NOT met',
        '- +VRA: association accuracy = 160× chance (bar ≥ 150×): met',
    ]
    out = capsys.readouterr().out
    assert re.search(r'\n +\+UM = full seed 2: mAP 41\.00 R1 46\.00 '
                     r'\(\d+ s\)\n', out)  # trained: with its seconds
    # a second invocation (the spec file itself) resumes: nothing trained
    monkeypatch.setattr(ablation.subprocess, 'run', no_training)
    again = ablation.main([
        str(folder / 'ablation.yml'), '--rows', 'vra', 'full', 'baseline',
        '--seeds', '0', '2'
    ])
    assert again == summary


def test_a_failed_or_empty_training_names_the_run(tmp_path, monkeypatch):
    folder = fake_method(tmp_path)
    spec = ablation.load_spec(str(folder))
    config = str(folder / 'fake_pa.py')
    monkeypatch.setattr(ablation.subprocess, 'run',
                        lambda *a, **k: types.SimpleNamespace(returncode=3))
    with pytest.raises(RuntimeError, match=r'fake_pa.py .*\(exit 3\); see '):
        ablation.train(config, 1, str(tmp_path / 'w'), 1, [], spec)
    monkeypatch.setattr(ablation.subprocess, 'run',
                        lambda *a, **k: types.SimpleNamespace(returncode=0))
    with pytest.raises(
            RuntimeError,
            match=r'seed 1\) finished without a '
            r'fake-all/mAP result'):
        ablation.train(config, 1, str(tmp_path / 'w'), 1, [], spec)


def test_default_work_dir_and_settings(tmp_path):
    folder = fake_method(tmp_path)
    data = yaml.safe_load((folder / 'ablation.yml').read_text())
    for key in ('metric_prefix', 'association', 'readme_markers', 'work_dir',
                'ceiling', 'bars'):
        del data[key]
    (folder / 'ablation.yml').write_text(yaml.safe_dump(data))
    spec = ablation.load_spec(str(folder))
    assert spec.work_dir == 'work_dirs/fake_ablation'
    assert spec.metric_prefix == 'synthvi-all'
    assert spec.association == 'infrared->visible'
    assert spec.readme_markers == ablation.DEFAULT_MARKERS
    assert spec.ceiling is None and spec.bars == ()


@pytest.mark.parametrize(
    'changes, message', [
        (dict(rows=[dict(key='a', label='A', config='configs/x/none.py')]),
         r'rows\[0\]\.config: configs/x/none.py does not exist'),
        (dict(rows=[dict(key='a', label='A')]),
         r"rows\[0\]: missing key\(s\) \['config'\]"),
        (dict(baseline='intra'), r"baseline: 'intra' is not a row key"),
        (dict(full=None), r"missing key\(s\) \['full'\]"),
        (dict(full=['full']), r"full: expected a non-empty string, got \["),
        (dict(bars=[dict(type='gain', row='um', min=10)]),
         r"bars\[0\]\.row: 'um' is not a row key \(baseline, pa, vra"),
        (dict(bars=[dict(type='gains', row='full', min=10)]),
         r"bars\[0\]\.type: 'gains' is not one of"),
        (dict(bars=[dict(type='gain', row='full', factor=10)]),
         r"bars\[0\]: unknown key\(s\) \['factor'\]"),
        (dict(bars=[dict(type='association', row='full', factor='20x')]),
         r"bars\[0\]\.factor: expected a number, got '20x'"),
        (dict(metric_prefx='fake-all'), r"unknown key\(s\) \['metric_prefx'"),
        (dict(readme_markers=['<!-- a -->']), r'readme_markers: expected two'),
    ],
    ids=[
        'missing-config', 'row-without-config', 'bad-role', 'no-full',
        'full-not-a-key', 'bar-row', 'bar-type', 'bar-threshold-key',
        'bar-threshold-value', 'typo', 'markers'
    ])
def test_spec_errors_name_the_file_key_and_value(tmp_path, changes, message):
    folder = fake_method(tmp_path)
    data = yaml.safe_load((folder / 'ablation.yml').read_text())
    data.update(changes)
    data = {k: v for k, v in data.items() if v is not None}
    (folder / 'ablation.yml').write_text(yaml.safe_dump(data))
    with pytest.raises(ValueError, match=message) as error:
        ablation.load_spec(str(folder))
    assert str(folder / 'ablation.yml') in str(error.value)


def test_spec_rows_may_not_share_a_key_label_or_work_dir(tmp_path):
    folder = fake_method(tmp_path)
    path = folder / 'ablation.yml'
    data = yaml.safe_load(path.read_text())
    rows = data['rows']
    for field, value, message in (
        ('key', 'baseline', r"rows\[2\]: key 'baseline' is also that of "
         r'.*rows\[0\]'), ('label', '+PA-CBAM',
                           r"label '\+PA-CBAM' is also that of"),
        ('config', str(tmp_path / 'fake_baseline.py'),
         'work dirs would be the same')):
        (tmp_path / 'fake_baseline.py').write_text('')
        broken = [dict(row) for row in rows]
        broken[2][field] = value
        path.write_text(yaml.safe_dump(dict(data, rows=broken)))
        with pytest.raises(ValueError, match=message):
            ablation.load_spec(str(folder))


def test_the_argument_must_be_a_method_folder_or_spec(tmp_path, capsys):
    with pytest.raises(ValueError, match='has no ablation.yml'):
        ablation.load_spec(str(tmp_path))
    with pytest.raises(SystemExit):
        ablation.main([str(tmp_path / 'nope.yml')])
    assert 'nope.yml: no such method folder or spec file' in \
        capsys.readouterr().err


def test_the_script_runs_as_a_command():
    """``--help`` in a child process: the script imports standalone."""
    out = subprocess.run([
        sys.executable,
        osp.join(ROOT, 'tools', 'analysis_tools', 'ablation.py'), '--help'
    ],
                         cwd=ROOT,
                         capture_output=True,
                         text=True,
                         timeout=60)
    assert out.returncode == 0, out.stderr
    assert 'configs/<method>' in out.stdout
