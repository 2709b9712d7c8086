"""Switch from the intra-modality stage to the cross-modality stage."""
from typing import Optional

import numpy as np
import torch
from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper
from mmengine.runner import Runner

from mmvireid.registry import HOOKS


@HOOKS.register_module()
class StageSwitchHook(Hook):
    """Start the second training stage at ``switch_epoch`` inside one run.

    Two-stage methods (SALCR: 40 epochs of the DCL baseline, then 40 of
    SALCR) change three things at the switch, all done here at the start
    of epoch ``switch_epoch`` (before the clustering hook, so the new
    epoch's labels go to the new sampler mode):

    - the train sampler's ``mode`` becomes ``sampler_mode`` (``'paired'``:
      pseudo-identities with paired visible / infrared positions);
    - the head's part modules are freshly initialised (its
      ``reinit_part_modules()``, if it has one), from a generator seeded by
      the run's seed and the switch epoch, so an interrupted and resumed run
      initialises them identically;
    - the optimiser state (Adam's moments and step counts) is cleared, as
      the reference restarts its optimiser; the learning-rate schedule goes
      on (it is indexed by epoch).

    The cross-modal losses start with the first association (set
    ``AssociationHook(start_epoch=switch_epoch)``). Resuming at a later
    epoch only restores the sampler mode: the checkpoint already holds the
    post-switch parameters and optimiser state.

    Args:
        switch_epoch (int): First epoch (0-based) of the second stage.
        sampler_mode (str, optional): Sampler mode from then on. Defaults
            to ``'paired'``; None leaves the sampler alone.
        reinit_part_modules (bool): Re-initialise the head's part modules.
            Defaults to True.
        reset_optimizer (bool): Clear the optimiser state. Defaults to True.
    """

    priority = 'HIGH'

    def __init__(self,
                 switch_epoch: int,
                 sampler_mode: Optional[str] = 'paired',
                 reinit_part_modules: bool = True,
                 reset_optimizer: bool = True) -> None:
        if switch_epoch < 0:
            raise ValueError(f'switch_epoch must be >= 0, got {switch_epoch}')
        self.switch_epoch = switch_epoch
        self.sampler_mode = sampler_mode
        self.reinit_part_modules = reinit_part_modules
        self.reset_optimizer = reset_optimizer

    def before_train_epoch(self, runner: Runner) -> None:
        """Switch at ``switch_epoch``; keep the mode on later epochs."""
        if runner.epoch < self.switch_epoch:
            return
        sampler = getattr(runner.train_dataloader, 'sampler', None)
        if self.sampler_mode is not None:
            if not hasattr(sampler, 'mode'):
                raise TypeError(
                    f'StageSwitchHook(sampler_mode={self.sampler_mode!r}) '
                    f'needs a sampler with a mode (CrossModalClusterSampler)'
                    f', got {type(sampler).__name__}')
            sampler.mode = self.sampler_mode
        if runner.epoch != self.switch_epoch:
            return
        model = runner.model.module if is_model_wrapper(
            runner.model) else runner.model
        head = getattr(model, 'head', None)
        done = []
        if self.reinit_part_modules and hasattr(head, 'reinit_part_modules'):
            seed = np.random.SeedSequence(
                [runner.seed or 0, self.switch_epoch]).generate_state(1)[0]
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(int(seed))
                head.reinit_part_modules()
            done.append('part modules re-initialised')
        if self.reset_optimizer:
            optimizers = runner.optim_wrapper.optim_wrappers.values() if \
                hasattr(runner.optim_wrapper, 'optim_wrappers') else [
                    runner.optim_wrapper]
            for wrapper in optimizers:
                wrapper.optimizer.state.clear()
            done.append('optimiser state cleared')
        if self.sampler_mode is not None:
            done.append(f'sampler mode {self.sampler_mode!r}')
        runner.logger.info(f'epoch {runner.epoch + 1}: stage switch (' +
                           ', '.join(done) + ')')
