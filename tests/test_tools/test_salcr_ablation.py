"""tools/analysis_tools/salcr_ablation.py: reading runs, the table, the bar
check and the README update (the training runs themselves are the demo's)."""
import json
import os
import os.path as osp

import pytest
from tool_scripts import load_tool

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))

ablation = load_tool('analysis_tools/salcr_ablation.py')


def fake_run(work_dir, mAP, assoc=None, legacy=False):
    run = osp.join(work_dir, '20261130_000000')
    os.makedirs(osp.join(run, 'vis_data'))
    record = {
        'synthvi-all/R1': mAP + 5,
        'synthvi-all/mAP': mAP,
        'synthvi-all/mINP': mAP - 10,
        'synthvi-all/cmfp-mAP': mAP + 12,
        'synthvi-all/cmfp-k': 10,
        'step': 8
    }
    if legacy:  # a second VIReIDMetric(cmfp_k=10, prefix='cmfp-te')
        del record['synthvi-all/cmfp-mAP'], record['synthvi-all/cmfp-k']
        record.update({'cmfp-te/mAP': mAP, 'cmfp-te/cmfp-mAP': mAP + 12})
    with open(osp.join(run, 'vis_data', 'scalars.json'), 'w') as f:
        f.write(json.dumps(dict(loss=3.0, step=1)) + '\n')
        f.write(json.dumps(record) + '\n')
    with open(osp.join(run, '20261130_000000.log'), 'w') as f:
        if assoc is not None:
            for acc in (0.1, assoc):
                f.write(f'epoch 3 association: infrared->visible accuracy '
                        f'{acc:.3f} (chance 0.0050); visible->infrared '
                        'accuracy 0.2 (chance 0.0050) [0.3 s]\n')


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


def test_table_and_bar(tmp_path):
    runs = {
        'baseline':
        [dict(R1=50, mAP=40, mINP=30),
         dict(R1=52, mAP=42, mINP=31)],
        '+DAGL': [dict(R1=56, mAP=46, mINP=33),
                  dict(R1=58, mAP=48, mINP=34)],
        '+CMFP(tr) = full': [
            dict(R1=60, mAP=52, mINP=40, assoc=60.0, chance=0.5, te_mAP=60),
            dict(R1=62, mAP=54, mINP=41, assoc=62.0, chance=0.5, te_mAP=64)
        ],
    }
    summary = ablation.summarise(runs)
    assert summary['baseline']['mAP'] == pytest.approx((41.0, 2**0.5))
    table = ablation.format_table(summary, [0, 1])
    assert '| baseline | 51.0 ± 1.4 | 41.0 ± 1.4 |' in table
    assert '| +CMFP(tr) = full |' in table and '+12.0' in table
    assert '61.0 (0.50)' in table and '52.0 / 54.0 | 62.0 ± 2.8 |' in table
    assert '40.0 / 42.0 | – |' in table  # no CMFP(te) result
    bar = '\n'.join(ablation.check_bar(summary))
    assert 'full − baseline = +12.0 mAP (bar ≥ +10): met' in bar
    assert '(bar > 3×): met' in bar
    assert '+DAGL − baseline = +6.0 mAP (bar ≥ +5): met' in bar
    assert '122× chance' in bar and 'NOT' not in bar
    runs['+DAGL'] = [dict(R1=1, mAP=43, mINP=1)]
    bar = '\n'.join(ablation.check_bar(ablation.summarise(runs)))
    assert '+DAGL − baseline = +2.0 mAP (bar ≥ +5): NOT met' in bar


def test_write_readme_between_markers(tmp_path):
    readme = tmp_path / 'README.md'
    readme.write_text('# t\n<!-- ablation-table -->\nold\n'
                      '<!-- /ablation-table -->\ntail\n')
    ablation.write_readme(str(readme), 'NEW TABLE')
    assert readme.read_text() == ('# t\n<!-- ablation-table -->\nNEW TABLE\n'
                                  '<!-- /ablation-table -->\ntail\n')
    bad = tmp_path / 'bad.md'
    bad.write_text('no markers')
    with pytest.raises(ValueError, match='markers'):
        ablation.write_readme(str(bad), 'x')


def test_finished_runs_are_not_rerun(tmp_path, monkeypatch):
    fake_run(str(tmp_path / 'synthvi_baseline_seed0'), 41.0)

    def no_training(*args, **kwargs):
        raise AssertionError('a finished run was trained again')

    monkeypatch.setattr(ablation.subprocess, 'run', no_training)
    summary = ablation.main(
        ['--rows', 'baseline', '--seeds', '0', '--work-dir',
         str(tmp_path)])
    assert summary['baseline']['mAP'][0] == 41.0
