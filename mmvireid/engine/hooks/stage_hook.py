"""Training as a sequence of named stages."""
from typing import Dict, List, Mapping, Optional, Sequence, Union

import numpy as np
import torch
from mmengine.dataset import Compose
from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper
from mmengine.runner import Runner

from mmvireid.registry import HOOKS

#: keys a stage may set (besides ``name`` in the list form)
STAGE_KEYS = ('epoch', 'sampler_mode', 'pipeline', 'reset_optimizer')


@HOOKS.register_module()
class StageHook(Hook):
    """Run training as named stages, each starting at an epoch.

    A stage is a dict with:

    - ``epoch`` (int): its first epoch (0-based); the first stage starts at
      0 and the epochs increase;
    - ``sampler_mode`` (str, optional): the train sampler's ``mode`` during
      the stage (e.g. ``'paired'`` for SALCR's cross-modality stage);
    - ``pipeline`` (list[dict], optional): the training set's pipeline from
      the stage on (SALCR's reference applies LTG to visible images in
      stage 1 only); dataloader workers kept alive across epochs
      (``persistent_workers``) hold a copy of the old pipeline, so they are
      restarted;
    - ``reset_optimizer`` (bool): clear the optimiser state (Adam's
      moments and step counts) at the stage's start, as SALCR's reference
      restarts its optimiser; the learning-rate schedule goes on (it is
      indexed by epoch). Defaults to False.

    ``stages`` is a dict keyed by the stage name (so a derived config
    changes one stage: ``custom_hooks.stages.stages.cross.epoch=10``;
    ``None`` removes a stage) or a list of such dicts with a ``name``.

    At the start of every epoch the hook, which runs before the label
    pipeline (priority ``'HIGH'``):

    - publishes the current stage's name in the runner's message hub (info
      ``'stage'``; ``'stages'`` maps every name to its first epoch, from
      ``before_train`` on), so label-pipeline hooks schedule themselves by
      stage (e.g. ``AssociationHook(stages=('cross',))``) instead of by a
      second copy of the epoch number;
    - calls ``model.set_progress(epoch, max_epochs)`` (the model hands it
      to every :class:`~mmvireid.models.utils.ScheduleAware` sub-module);
    - sets the sampler mode and pipeline of the current stage (also when a
      run resumes inside a stage);
    - at a stage's first epoch only: calls ``model.switch_stage(name)``
      under a random generator seeded by the run's seed and the epoch (an
      interrupted and resumed run re-initialises modules identically; the
      global generator is left as it was) and resets the optimiser if the
      stage asks for it. A resumed run does not repeat these: the
      checkpoint holds their result.

    Args:
        stages (dict | list[dict]): The stages (see above).

    Raises:
        ValueError: No stage, a first stage not at epoch 0, epochs not
            increasing, an unknown key or a duplicate name.
    """

    priority = 'HIGH'

    def __init__(
            self, stages: Union[Mapping[str, Optional[dict]],
                                Sequence[dict]]) -> None:
        self.stages = self._parse(stages)
        self._pipeline_of: Optional[str] = None

    @staticmethod
    def _parse(stages) -> List[dict]:
        if isinstance(stages, Mapping):
            items = [
                dict(stage, name=name) for name, stage in stages.items()
                if stage is not None
            ]
        else:
            items = [dict(stage) for stage in stages]
        if not items:
            raise ValueError('StageHook: no stage given')
        names = []
        for stage in items:
            name = stage.get('name')
            if not isinstance(name, str) or not name:
                raise ValueError(f'StageHook: stage {stage!r} has no name')
            if name in names:
                raise ValueError(f'StageHook: two stages named {name!r}')
            names.append(name)
            unknown = set(stage) - set(STAGE_KEYS) - {'name'}
            if unknown:
                raise ValueError(
                    f'StageHook: stage {name!r} has unknown keys '
                    f'{sorted(unknown)}; a stage may set {STAGE_KEYS}')
            if not isinstance(stage.get('epoch'), int):
                raise ValueError(f'StageHook: stage {name!r} needs an int '
                                 f"'epoch', got {stage.get('epoch')!r}")
            stage.setdefault('reset_optimizer', False)
        items.sort(key=lambda s: s['epoch'])
        epochs = [s['epoch'] for s in items]
        if epochs[0] != 0:
            raise ValueError('StageHook: the first stage must start at epoch'
                             f' 0, got {dict(zip(names, epochs))}')
        if len(set(epochs)) != len(epochs):
            raise ValueError('StageHook: two stages start at the same epoch: '
                             f'{ {s["name"]: s["epoch"] for s in items} }')
        return items

    @property
    def first_epochs(self) -> Dict[str, int]:
        """Every stage's name and first epoch, in order."""
        return {s['name']: s['epoch'] for s in self.stages}

    def stage_at(self, epoch: int) -> dict:
        """The stage that ``epoch`` belongs to."""
        return [s for s in self.stages if s['epoch'] <= epoch][-1]

    def before_train(self, runner: Runner) -> None:
        """Publish the stages; check the sampler can take their modes."""
        runner.message_hub.update_info(
            'stages', self.first_epochs, resumed=False)
        if any(s.get('sampler_mode') for s in self.stages):
            sampler = getattr(runner.train_dataloader, 'sampler', None)
            if not hasattr(sampler, 'mode'):
                raise TypeError(
                    'StageHook: stages set a sampler_mode, which needs a '
                    'sampler with a mode (CrossModalClusterSampler), got '
                    f'{type(sampler).__name__}')

    def before_train_epoch(self, runner: Runner) -> None:
        """Enter or restore the current stage."""
        stage = self.stage_at(runner.epoch)
        name = stage['name']
        runner.message_hub.update_info('stage', name, resumed=False)
        model = runner.model.module if is_model_wrapper(
            runner.model) else runner.model
        if hasattr(model, 'set_progress'):
            model.set_progress(runner.epoch, runner.max_epochs)
        if stage.get('sampler_mode') is not None:
            runner.train_dataloader.sampler.mode = stage['sampler_mode']
        pipeline = self._current_pipeline(runner.epoch)
        if pipeline is not None and self._pipeline_of != pipeline['name']:
            self._switch_pipeline(runner, pipeline['pipeline'])
            self._pipeline_of = pipeline['name']
        if runner.epoch != stage['epoch']:
            return
        done = []
        if hasattr(model, 'switch_stage'):
            seed = np.random.SeedSequence([runner.seed or 0,
                                           runner.epoch]).generate_state(1)[0]
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(int(seed))
                changed = model.switch_stage(name)
            if changed:
                done.append('re-initialised: ' + ', '.join(changed))
        if stage['reset_optimizer']:
            wrappers = runner.optim_wrapper.optim_wrappers.values() if \
                hasattr(runner.optim_wrapper, 'optim_wrappers') else [
                    runner.optim_wrapper]
            for wrapper in wrappers:
                wrapper.optimizer.state.clear()
            done.append('optimiser state cleared')
        if stage.get('sampler_mode') is not None:
            done.append(f'sampler mode {stage["sampler_mode"]!r}')
        if stage.get('pipeline') is not None:
            done.append('its training pipeline')
        runner.logger.info(f'epoch {runner.epoch + 1}: stage {name!r}' +
                           (f' ({", ".join(done)})' if done else ''))

    def _current_pipeline(self, epoch: int) -> Optional[dict]:
        """The latest stage up to ``epoch`` that sets a pipeline."""
        staged = [
            s for s in self.stages
            if s['epoch'] <= epoch and s.get('pipeline') is not None
        ]
        return staged[-1] if staged else None

    @staticmethod
    def _switch_pipeline(runner: Runner, pipeline: List[dict]) -> None:
        """Give the training set ``pipeline`` (and restart persistent
        dataloader workers, which hold the old one)."""
        loader = runner.train_dataloader
        dataset = loader.dataset
        if not hasattr(dataset, 'pipeline'):
            raise TypeError(
                'StageHook: a stage sets a pipeline, which needs a training '
                f'set with a pipeline, got {type(dataset).__name__}')
        dataset.pipeline = Compose(pipeline)
        # torch's DataLoader keeps persistent workers in `_iterator`
        # (private); dropping it makes the next epoch start new workers
        # that copy the dataset with its new pipeline
        if getattr(loader, '_iterator', None) is not None:
            loader._iterator = None
