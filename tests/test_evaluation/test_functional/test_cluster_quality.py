import numpy as np
import pytest

from mmvireid.evaluation import cluster_quality


def test_hand_computed_purity_and_outliers():
    labels = np.array([0, 0, 0, 1, 1, -1, 2])
    true = np.array([5, 5, 6, 7, 7, 5, 6])
    stats = cluster_quality(labels, true)
    assert stats['num_clusters'] == 3 and stats['num_outliers'] == 1
    assert stats['purity'] == pytest.approx(5 / 6)
    assert stats['num_ids'] == 3
    assert 0 < stats['nmi'] < 1


def test_perfect_and_empty():
    perfect = cluster_quality(np.array([1, 1, 0]), np.array([9, 9, 4]))
    assert perfect['purity'] == 1.0 and perfect['nmi'] == pytest.approx(1.0)
    empty = cluster_quality(np.array([-1, -1]), np.array([1, 2]))
    assert empty['num_clusters'] == 0 and empty['purity'] == 0.0


def test_shape_mismatch():
    with pytest.raises(ValueError, match='shape'):
        cluster_quality(np.zeros(3), np.zeros(4))
