import json

import numpy as np
import pytest
from eval_sets import make_eval_set
from mmengine.fileio import dump
from tool_scripts import load_tool

from mmvireid.evaluation import VIReIDMetric

pytest.importorskip('matplotlib')
tool = load_tool('analysis_tools/plot_curves.py')


def result_file(path, seed, **options):
    """What ``tools/test.py --out`` writes for a small evaluation set."""
    meta, samples, *_ = make_eval_set(seed=seed, trials=2)
    metric = VIReIDMetric(**options)
    metric.dataset_meta = meta
    metric.process(None, samples)
    dump(metric.evaluate(len(samples)), str(path))
    return str(path)


def test_draws_a_png_of_two_result_files(tmp_path, capsys):
    from matplotlib.image import imread
    a = result_file(tmp_path / 'a.json', 0, roc=True, save_curves=True)
    b = result_file(tmp_path / 'b.pkl', 1, roc=True, save_curves=True)
    out = tmp_path / 'plots' / 'curves.png'
    assert tool.main([a, b, '--out', str(out)]) == str(out)
    assert out.read_bytes()[:8] == b'\x89PNG\r\n\x1a\n'
    image = imread(str(out))
    assert image.shape[1] > image.shape[0] > 100  # two panels side by side
    assert image[..., :3].std() > 0  # something was drawn
    assert 'written to' in capsys.readouterr().out
    # what was drawn for file a: both curves and the legend's AUC
    curves = tool.find_curves(tool.load_result(a), a)
    assert curves['roc'][0].shape == curves['roc'][1].shape == (1001, )
    assert curves['cmc'].shape == (20, ) and curves['AUC'] > 50


def test_one_panel_and_labels(tmp_path):
    a = result_file(tmp_path / 'a.json', 0, save_curves=True)
    out = tmp_path / 'cmc.png'
    tool.main([a, '--out', str(out), '--curves', 'cmc', '--labels', 'mine'])
    assert out.stat().st_size > 0
    with pytest.raises(SystemExit, match='1 labels for 2 result files'):
        tool.main([a, a, '--out', str(out), '--labels', 'x'])


def test_refuses_a_result_file_without_curves(tmp_path):
    plain = result_file(tmp_path / 'plain.json', 0)
    with pytest.raises(SystemExit) as error:
        tool.main([plain, '--out', str(tmp_path / 'x.png')])
    message = str(error.value)
    assert plain in message and 'no curves' in message
    assert 'test_evaluator.save_curves=True' in message
    assert not (tmp_path / 'x.png').exists()


def test_refuses_a_missing_roc_and_a_broken_curve(tmp_path):
    cmc_only = result_file(tmp_path / 'cmc.json', 0, save_curves=True)
    with pytest.raises(SystemExit, match="cmc.json: no 'toy-all/ROC' key"):
        tool.main([cmc_only, '--out', str(tmp_path / 'x.png')])
    broken = tmp_path / 'broken.json'
    broken.write_text(json.dumps({'toy-all/CMC': [[1, 2], [3, 4]]}))
    with pytest.raises(SystemExit, match="broken.json: 'toy-all/CMC' is not"):
        tool.main([str(broken), '--out', 'x.png', '--curves', 'cmc'])
    two = tmp_path / 'two.json'
    two.write_text(json.dumps({'a/CMC': [1.0], 'b/CMC': [2.0]}))
    with pytest.raises(SystemExit, match='--prefix'):
        tool.main([str(two), '--out', 'x.png', '--curves', 'cmc'])
    out = tmp_path / 'b.png'
    tool.main(
        [str(two), '--out',
         str(out), '--curves', 'cmc', '--prefix', 'b'])
    assert out.stat().st_size > 0
    with pytest.raises(SystemExit, match='missing.json: no such'):
        tool.main([str(tmp_path / 'missing.json'), '--out', 'x.png'])


def test_variant_curves(tmp_path):
    a = result_file(
        tmp_path / 'a.json', 2, cmfp_k=4, roc=True, save_curves=True)
    result = tool.load_result(a)
    plain = tool.find_curves(result, a)
    cmfp = tool.find_curves(result, a, variant='cmfp')
    assert cmfp['AUC'] == result['toy-all/cmfp-AUC'] != plain['AUC']
    np.testing.assert_allclose(cmfp['cmc'], result['toy-all/cmfp-CMC'])
