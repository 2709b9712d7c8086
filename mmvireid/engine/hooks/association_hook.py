"""Cross-modal label association (a label-pipeline hook)."""
import time
from typing import Dict, List, Mapping, Optional, Sequence, Tuple, Union

import torch
from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper
from mmengine.runner import Runner

from mmvireid.models.task_modules import (BaseAssociator, BaseRefiner,
                                          ClusterSet)
from mmvireid.models.utils import (association_accuracy, association_chance,
                                   cluster_centroids)
from mmvireid.registry import HOOKS
from mmvireid.structures import PseudoLabelConsumer, PseudoLabels, pair_key
from .component_schedule import ComponentSchedule, ScheduledComponent

#: the associator of an AssociationHook built without one (SALCR's)
DEFAULT_ASSOCIATOR = dict(type='OTAssociator')


@HOOKS.register_module()
class AssociationHook(Hook):
    """Refine the clusters and associate each modality's instances with the
    other modalities' clusters.

    Runs right after :class:`ClusteringHook` (lower priority value runs
    first, so this hook uses 45) from ``start_epoch`` on, or during the
    training stages named in ``stages``. It takes the epoch's
    :class:`~mmvireid.structures.PseudoLabels` from the runner's message hub
    (info ``'pseudo_labels'``; the same labels and gathered features on
    every rank, so every rank computes the same result) and runs:

    1. its ``refiners`` (registered
       :class:`~mmvireid.models.task_modules.BaseRefiner`, e.g. SALCR's
       train-time CMFP, :class:`~mmvireid.models.task_modules.CMFPRefiner`)
       in key order, each on the previous one's output;
    2. its ``associator`` (a registered
       :class:`~mmvireid.models.task_modules.BaseAssociator`, default
       SALCR's entropic OT,
       :class:`~mmvireid.models.task_modules.OTAssociator`) for every
       ordered pair of modalities in ``pairs``, on the refined features,
       labels and their centroids.

    Every component may carry ``schedule=dict(start_epoch=..., stages=...,
    interval=...)`` (see
    :class:`~mmvireid.engine.hooks.component_schedule.ComponentSchedule`)
    and runs only at the epochs it names (within the hook's own); a
    component not scheduled is skipped that epoch. The result (the labels
    object with the refined ``labels``, ``cross_labels``, ``plans`` and each
    modality's ``centroids`` of the refined features; ``features`` stay the
    clustering's) goes to the model's and the sampler's
    ``set_pseudo_labels`` and back to the message hub. The hook logs the
    components that ran with their seconds and, where true ids exist,
    association accuracy against chance. A modality without clusters
    yields no association (logged; loss terms skipped).

    Args:
        start_epoch (int, optional): First epoch (0-based) that runs (when
            ``stages`` is not given). Defaults to 0.
        stages (Sequence[str], optional): Run during these training stages
            of the run's :class:`~mmvireid.engine.StageHook` (its info
            ``'stage'`` in the message hub) instead of from
            ``start_epoch``: the stage hook's epochs are then the only copy
            of the schedule. Checked against the stage hook's stages
            before training.
        refiners (dict, optional): Refiner configs (``TASK_UTILS``) keyed by
            a name, run in key order; a dict (not a list) so that a derived
            config changes or removes one (``refiners=dict(cmfp=None)``).
            Defaults to none.
        associator (dict | BaseAssociator, optional): Config of the
            associator (``TASK_UTILS``). Defaults to
            ``dict(type='OTAssociator')``; the supervised ceiling of an
            ablation uses ``dict(type='GroundTruthAssociator')``.
        pairs (list[tuple[str, str]], optional): Ordered ``(source,
            destination)`` modality pairs to associate. Defaults to every
            ordered pair of the declared modalities, grouped by destination
            in declared order (two modalities: ``infrared->visible``, then
            ``visible->infrared``).
    """

    priority = 45

    def __init__(self,
                 start_epoch: Optional[int] = None,
                 stages: Optional[Sequence[str]] = None,
                 refiners: Optional[Mapping[str, Union[dict, BaseRefiner,
                                                       None]]] = None,
                 associator: Union[dict, BaseAssociator, None] = None,
                 pairs: Optional[Sequence[Tuple[str, str]]] = None) -> None:
        self.schedule = ComponentSchedule(
            start_epoch=start_epoch, stages=stages, owner='AssociationHook')
        if refiners is None:
            refiners = {}
        if not isinstance(refiners, Mapping):
            raise TypeError(
                'AssociationHook: refiners must be a dict of refiner configs '
                'keyed by name (e.g. refiners=dict(cmfp=dict(type='
                f"'CMFPRefiner', k=30))), got {refiners!r}")
        self.refiners: List[ScheduledComponent] = [
            ScheduledComponent.build(cfg, BaseRefiner,
                                     f'AssociationHook refiners.{key}', key)
            for key, cfg in refiners.items() if cfg is not None
        ]
        self._associator = ScheduledComponent.build(
            DEFAULT_ASSOCIATOR if associator is None else associator,
            BaseAssociator, 'AssociationHook associator')
        self.pairs = None if pairs is None else [tuple(p) for p in pairs]
        if self.pairs is not None and any(
                len(p) != 2 or p[0] == p[1] for p in self.pairs):
            raise ValueError('AssociationHook: pairs must be (source, '
                             f'destination) of two modalities, got {pairs}')
        self.result: Optional[PseudoLabels] = None

    @property
    def associator(self) -> BaseAssociator:
        """The built associator."""
        return self._associator.component

    @property
    def stages(self) -> Optional[Tuple[str, ...]]:
        """The stages the hook runs in (None: from ``start_epoch``)."""
        return self.schedule.stages

    @property
    def start_epoch(self) -> int:
        """The hook's first epoch (when not scheduled by stage)."""
        return self.schedule.start_epoch

    def pairs_of(self, modalities: Sequence[str]) -> List[Tuple[str, str]]:
        """The ordered pairs to associate, checked against ``modalities``."""
        if self.pairs is None:
            return [(s, d) for d in modalities for s in modalities if s != d]
        unknown = sorted({m for p in self.pairs for m in p} - set(modalities))
        if unknown:
            raise ValueError(f'AssociationHook: pairs name {unknown}, not '
                             f'declared modalities of {tuple(modalities)}')
        return self.pairs

    def before_train(self, runner: Runner) -> None:
        """Check the settings (pairs, schedules, components) against the
        training set's modalities and the stage hook's stages."""
        modalities = tuple(
            runner.train_dataloader.dataset.metainfo.get('modalities', ()))
        self.pairs_of(modalities)
        hub = runner.message_hub
        self.schedule.check(hub)
        for component in self.refiners + [self._associator]:
            component.check(modalities, hub)

    def active(self, runner: Runner) -> bool:
        """Whether this epoch runs the hook (its stage, or
        ``start_epoch``); its components follow their own schedules."""
        return self.schedule.active(runner)

    def before_train_epoch(self, runner: Runner) -> None:
        """Refine and associate the current clusters (in the scheduled
        epochs)."""
        if not self.active(runner):
            return
        refiners = [r for r in self.refiners if r.active(runner)]
        associate = self._associator.active(runner)
        if not refiners and not associate:
            return
        clusters = runner.message_hub.get_info('pseudo_labels')
        if clusters is None or clusters.features is None:
            raise RuntimeError(
                'AssociationHook needs the features of this epoch; cluster '
                'every epoch (ClusteringHook interval=1) when associating')
        seconds: Dict[str, float] = {}
        self.result = self.associate(clusters, refiners, associate, seconds)
        self._log(runner, self.result, seconds)
        runner.message_hub.update_info(
            'pseudo_labels', self.result, resumed=False)
        model = runner.model.module if is_model_wrapper(
            runner.model) else runner.model
        if isinstance(model, PseudoLabelConsumer):
            model.set_pseudo_labels(self.result)
        sampler = getattr(runner.train_dataloader, 'sampler', None)
        if isinstance(sampler, PseudoLabelConsumer):
            sampler.set_pseudo_labels(self.result)

    def associate(self,
                  clusters: PseudoLabels,
                  refiners: Optional[Sequence[ScheduledComponent]] = None,
                  associate: bool = True,
                  seconds: Optional[Dict[str, float]] = None) -> PseudoLabels:
        """Refine, then cross labels of every instance (−1 for outliers /
        none).

        Args:
            clusters (PseudoLabels): The clustering's labels and features.
            refiners (Sequence[ScheduledComponent], optional): The refiners
                to run. Defaults to all of the hook's.
            associate (bool): Whether to run the associator. Defaults to
                True.
            seconds (dict, optional): Filled with each component's seconds,
                by name.

        Returns:
            PseudoLabels: ``clusters`` with the refined labels,
            ``cross_labels`` and ``plans`` per pair and each modality's
            ``centroids`` (of the refined features); ``features`` stay the
            clustering's (not, e.g., propagated).
        """
        seconds = {} if seconds is None else seconds
        refined = clusters
        for refiner in self.refiners if refiners is None else refiners:
            start = time.perf_counter()
            refined = refiner.component(refined)
            seconds[refiner.name] = time.perf_counter() - start
        modalities = refined.modalities
        labels = refined.labels.clone()
        index = {m: refined.indices(m) for m in modalities}
        feats = {m: refined.features[index[m]] for m in modalities}
        own = {m: labels[index[m]] for m in modalities}
        pids = {
            m: None if refined.pids is None else refined.pids[index[m]]
            for m in modalities
        }
        centroids = {
            m: cluster_centroids(feats[m], own[m])
            for m in modalities
        }
        cross_labels: Dict[str, torch.Tensor] = {}
        plans: Dict[str, torch.Tensor] = {}
        if associate:
            start = time.perf_counter()
            sets = {
                m: ClusterSet(feats[m], own[m], centroids[m], pids[m])
                for m in modalities
            }
            for source, destination in self.pairs_of(modalities):
                association = self.associator(sets[source], sets[destination])
                cross = torch.full_like(labels, -1)
                cross[index[source]] = association.cross_labels
                key = pair_key(source, destination)
                cross_labels[key] = cross
                if association.plan is not None:
                    plans[key] = association.plan
            seconds[self._associator.name] = time.perf_counter() - start
        return refined.with_fields(
            labels=labels,
            features=clusters.features,
            cross_labels=cross_labels,
            plans=plans,
            centroids=centroids)

    def _log(self, runner: Runner, result: PseudoLabels,
             seconds: Dict[str, float]) -> None:
        """One line: association accuracy vs chance per pair (where true
        ids exist), and the components that ran with their seconds."""
        labels = result.labels.numpy()
        pids = None if result.pids is None else result.pids.numpy()
        parts = []
        for key, cross in result.cross_labels.items():
            source, destination = result.split_key(key)
            src = result.mask(source).numpy()
            dst = result.mask(destination).numpy()
            cross = cross.numpy()
            name = f'{source}->{destination}'
            if not (cross[src] >= 0).any():
                runner.logger.warning(f'{name}: no association (a modality '
                                      'has no cluster); terms skipped')
                continue
            if pids is None:
                continue
            acc = association_accuracy(cross[src], pids[src], labels[dst],
                                       pids[dst])
            chance = association_chance(labels[dst], pids[dst], pids[src])
            runner.message_hub.update_scalar(
                f'association/{source}_to_{destination}_accuracy', acc)
            parts.append(f'{name} accuracy {acc:.3f} (chance {chance:.4f})')
        if not parts and not result.cross_labels:
            parts.append('no associator this epoch')
        elif not parts:
            parts.append('not scored (no true ids)' if pids is
                         None else 'none (a modality has no cluster)')
        ran = ', '.join(f'{name} {value:.1f} s'
                        for name, value in seconds.items())
        runner.logger.info(f'epoch {runner.epoch + 1} association: ' +
                           '; '.join(parts) + f' [{ran}]')
