"""Switch from the intra-modality stage to the cross-modality stage."""
from typing import List, Optional

import numpy as np
import torch
from mmengine.dataset import Compose
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
      on (it is indexed by epoch);
    - optionally, the training set's pipeline becomes ``train_pipeline``
      (SALCR's reference applies LTG to visible images in stage 1 only).
      Dataloader workers kept alive across epochs (``persistent_workers``)
      hold a copy of the old pipeline, so they are restarted.

    The cross-modal losses start with the first association (set
    ``AssociationHook(start_epoch=switch_epoch)``). Resuming at a later
    epoch restores the sampler mode and the pipeline: the checkpoint
    already holds the post-switch parameters and optimiser state.

    Args:
        switch_epoch (int): First epoch (0-based) of the second stage.
        sampler_mode (str, optional): Sampler mode from then on. Defaults
            to ``'paired'``; None leaves the sampler alone.
        reinit_part_modules (bool): Re-initialise the head's part modules.
            Defaults to True.
        reset_optimizer (bool): Clear the optimiser state. Defaults to True.
        train_pipeline (list[dict], optional): Pipeline of the training
            set from the switch on. Defaults to None (unchanged).
    """

    priority = 'HIGH'

    def __init__(self,
                 switch_epoch: int,
                 sampler_mode: Optional[str] = 'paired',
                 reinit_part_modules: bool = True,
                 reset_optimizer: bool = True,
                 train_pipeline: Optional[List[dict]] = None) -> None:
        if switch_epoch < 0:
            raise ValueError(f'switch_epoch must be >= 0, got {switch_epoch}')
        self.switch_epoch = switch_epoch
        self.sampler_mode = sampler_mode
        self.reinit_part_modules = reinit_part_modules
        self.reset_optimizer = reset_optimizer
        self.train_pipeline = train_pipeline
        self._pipeline_switched = False

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
        if self.train_pipeline is not None and not self._pipeline_switched:
            self._switch_pipeline(runner)
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
        if self.train_pipeline is not None:
            done.append('stage-2 training pipeline')
        runner.logger.info(f'epoch {runner.epoch + 1}: stage switch (' +
                           ', '.join(done) + ')')

    def _switch_pipeline(self, runner: Runner) -> None:
        """Give the training set ``train_pipeline`` (and restart persistent
        dataloader workers, which hold the old one)."""
        loader = runner.train_dataloader
        dataset = loader.dataset
        if not hasattr(dataset, 'pipeline'):
            raise TypeError(
                f'StageSwitchHook(train_pipeline=...) needs a training set '
                f'with a pipeline, got {type(dataset).__name__}')
        dataset.pipeline = Compose(self.train_pipeline)
        # torch's DataLoader keeps persistent workers in `_iterator`
        # (private); dropping it makes the next epoch start new workers
        # that copy the dataset with its new pipeline
        if getattr(loader, '_iterator', None) is not None:
            loader._iterator = None
        self._pipeline_switched = True
