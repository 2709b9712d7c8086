"""Random generators seeded for one piece of work, then given back."""
import random
from contextlib import contextmanager
from typing import Iterator

import numpy as np
import torch


@contextmanager
def seeded_generators(*keys: int) -> Iterator[int]:
    """Seed Python's, numpy's and torch's (CPU) generators from ``keys``
    inside the block and restore their states after it.

    The label pipeline's feature extraction may draw random numbers (a
    virtual modality's random channel augmentation, the data loader's base
    seed): under this context it draws the same ones in an uninterrupted
    run and in one resumed at that epoch, and it leaves the generators of
    the training as they were.

    Args:
        *keys (int): E.g. ``(seed, epoch, rank, purpose)``.

    Yields:
        int: The seed used.
    """
    value = int(np.random.SeedSequence(list(keys)).generate_state(1)[0])
    python_state, numpy_state = random.getstate(), np.random.get_state()
    with torch.random.fork_rng(devices=[]):
        random.seed(value)
        np.random.seed(value)
        torch.manual_seed(value)
        try:
            yield value
        finally:
            random.setstate(python_state)
            np.random.set_state(numpy_state)
