"""seeded_generators: the same draws for the same keys, the outer
generators untouched."""
import random

import numpy as np
import torch

from mmvireid.engine.seeding import seeded_generators


def draws():
    return (random.random(), float(np.random.rand()), float(torch.rand(1)))


def test_the_same_keys_draw_the_same_numbers_and_leave_the_outside_alone():
    random.seed(1)
    np.random.seed(1)
    torch.manual_seed(1)
    expected_outside = draws()
    random.seed(1)
    np.random.seed(1)
    torch.manual_seed(1)
    with seeded_generators(0, 3, 0, 1):
        inside = draws()
    # the generators continue as if the block had not run
    assert draws() == expected_outside
    # an interrupted run (other outer state) draws the same inside
    random.seed(99)
    np.random.seed(99)
    torch.manual_seed(99)
    with seeded_generators(0, 3, 0, 1):
        assert draws() == inside
    with seeded_generators(0, 4, 0, 1):  # another epoch, other numbers
        assert draws() != inside
