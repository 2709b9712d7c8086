"""Reseed the random generators at every epoch, for exact resumption."""
import random

import numpy as np
import torch
from mmengine.hooks import Hook
from mmengine.runner import Runner

from mmvireid.registry import HOOKS


@HOOKS.register_module()
class EpochSeedHook(Hook):
    """Seed Python, numpy and torch with ``(seed, epoch)`` per epoch.

    MMEngine seeds the generators once, at start-up, and does not save
    their state, so a run resumed at epoch ``e`` draws different random
    augmentations (and samples) from an uninterrupted one. Reseeding at the
    start of every epoch from the run's seed and the epoch number makes the
    draws of an epoch independent of what happened before, so a resumed
    run continues exactly. Runs after the label-pipeline hooks; the
    clustering hook's feature extraction draws from generators of its own,
    seeded per epoch (:func:`~mmvireid.engine.seeding.seeded_generators`).

    Args:
        offset (int): Added to the run's seed. Defaults to 0.
    """

    priority = 'LOW'

    def __init__(self, offset: int = 0) -> None:
        self.offset = offset

    def before_train_epoch(self, runner: Runner) -> None:
        """Seed all generators from ``(seed + offset, epoch, rank)``."""
        seed = (runner.seed or 0) + self.offset
        sequence = np.random.SeedSequence([seed, runner.epoch, runner.rank])
        value = int(sequence.generate_state(1)[0])
        random.seed(value)
        np.random.seed(value)
        torch.manual_seed(value)
