import numpy as np
from tool_scripts import load_tool, run_quick

bench = load_tool('analysis_tools/benchmark_clustering.py')


def test_quick_run_gives_identical_labels():
    stdout = run_quick('analysis_tools/benchmark_clustering.py')
    assert 'labels identical' in stdout
    rows = [
        line for line in stdout.splitlines()
        if line.startswith('| visible') or line.startswith('| infrared')
    ]
    assert len(rows) == 2 and all(row.endswith('| True |') for row in rows)


def test_same_partition_and_features():
    a = np.array([0, 0, 1, -1, 2])
    assert bench.same_partition(a, np.array([5, 5, 3, -1, 0]))
    assert not bench.same_partition(a, np.array([5, 5, 5, -1, 0]))
    assert not bench.same_partition(a, np.array([0, 0, 1, 3, 2]))
    assert not bench.same_partition(a, np.array([0, 1, 2, -1, 3]))
    feats = bench.sysu_like_features(50, 5, 16, 1.0, seed=1)
    assert feats.shape == (50, 16) and feats.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(feats, axis=1), 1, atol=1e-5)
    np.testing.assert_array_equal(
        feats, bench.sysu_like_features(50, 5, 16, 1.0, seed=1))
