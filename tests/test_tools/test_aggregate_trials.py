import json

import pytest
from tool_scripts import load_tool

tool = load_tool('analysis_tools/aggregate_trials.py')


def test_mean_and_sample_std(tmp_path, capsys):
    for trial, (r1, mAP) in enumerate([(90.0, 80.0), (92.0, 84.0),
                                       (94.0, 88.0)], 1):
        (tmp_path / f'trial{trial}.json').write_text(
            json.dumps({
                'regdb-v2t/R1': r1,
                'regdb-v2t/mAP': mAP
            }))
    out = tmp_path / 'summary.json'
    summary = tool.main([str(tmp_path / 'trial*.json'), '--out', str(out)])
    assert summary['regdb-v2t/R1'] == dict(mean=92.0, std=2.0, n=3)
    assert summary['regdb-v2t/mAP']['std'] == pytest.approx(4.0)
    assert '| regdb-v2t/R1 | 92.00 ± 2.00 | 3 |' in capsys.readouterr().out
    assert json.loads(out.read_text()) == summary


def test_mismatched_keys_are_refused():
    with pytest.raises(ValueError, match='run 1 reports keys'):
        tool.aggregate([{'a': 1.0}, {'b': 2.0}])
