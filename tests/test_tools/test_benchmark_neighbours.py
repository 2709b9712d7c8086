import numpy as np
from tool_scripts import load_tool, run_quick

bench = load_tool('analysis_tools/benchmark_neighbours.py')


def test_quick_run_reports_the_ratio_and_four_directions():
    stdout = run_quick('analysis_tools/benchmark_neighbours.py')
    ratio = next(line for line in stdout.splitlines()
                 if line.startswith('ours / k-NN floor: '))
    assert float(ratio.split(': ')[1].split(' ')[0]) > 0
    rows = [
        line.split(' | ')[0][2:] for line in stdout.splitlines()
        if '->' in line and line.startswith('| ')
    ]
    assert sorted(rows) == sorted([
        'visible->visible', 'visible->infrared', 'infrared->visible',
        'infrared->infrared'
    ])


def test_synthetic_modalities_shapes_cameras_and_seed():
    data = bench.synthetic_modalities(50, 30, 5, 4, 8, seed=1)
    feats, cams, labels = data['visible']
    assert feats.shape == (50, 32) and feats.dtype == np.float32
    assert set(cams.tolist()) <= {1, 2, 4, 5}
    assert set(data['infrared'][1].tolist()) <= {3, 6}
    assert labels.min() >= -1 and labels.max() < 5
    again = bench.synthetic_modalities(50, 30, 5, 4, 8, seed=1)
    np.testing.assert_array_equal(feats, again['visible'][0])
