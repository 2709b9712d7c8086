"""GroundTruthClusterer: the true ids, renumbered per modality."""
import pytest
import torch

from mmvireid.registry import TASK_UTILS
from mmvireid.structures import PseudoLabels
from mmvireid.utils import register_all_modules

register_all_modules()


def test_true_ids_renumbered_per_modality():
    pl = PseudoLabels(
        modalities=('visible', 'infrared'),
        modality_ids=torch.tensor([0, 1, 0, 1, 0, 1, 0]),
        labels=torch.full((7, ), -1),
        features=torch.zeros(7, 2),
        pids=torch.tensor([7, 3, 2, 9, 7, 3, 40]))
    out = TASK_UTILS.build(dict(type='GroundTruthClusterer'))(pl)
    # visible ids 7, 2, 7, 40 -> 1, 0, 1, 2; infrared 3, 9, 3 -> 0, 1, 0
    assert out.labels.tolist() == [1, 0, 0, 1, 1, 0, 2]
    assert (pl.labels == -1).all()
    with pytest.raises(ValueError, match='no true ids'):
        TASK_UTILS.build(dict(type='GroundTruthClusterer'))(
            pl.with_fields(pids=None))
