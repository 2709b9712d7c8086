"""Cross-modal label association (a label-pipeline hook)."""
import time
from typing import List, Optional, Sequence, Tuple

import numpy as np
import torch
from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper
from mmengine.runner import Runner

from mmvireid.evaluation.functional import cross_modality_propagation
from mmvireid.models.task_modules import BaseAssociator, ClusterSet
from mmvireid.models.utils import (association_accuracy, association_chance,
                                   cluster_centroids, majority_identity,
                                   reassign_to_centroids)
from mmvireid.registry import HOOKS, TASK_UTILS
from mmvireid.structures import PseudoLabelConsumer, PseudoLabels, pair_key


@HOOKS.register_module()
class AssociationHook(Hook):
    """Associate each modality's instances with the other modalities'
    clusters.

    Runs right after :class:`ClusteringHook` (lower priority value runs
    first, so this hook uses 45) from ``start_epoch`` on, or during the
    training stages named in ``stages``. It takes the
    epoch's :class:`~mmvireid.structures.PseudoLabels` from the runner's
    message hub (info ``'pseudo_labels'``), optionally refines the features
    by train-time CMFP (``cmfp_k``; every instance is then re-assigned to
    its nearest propagated centroid within its modality, as SALCR's
    reference does), and runs the ``associator`` (a registered
    :class:`~mmvireid.models.task_modules.BaseAssociator`, default SALCR's
    entropic OT, :class:`~mmvireid.models.task_modules.OTAssociator`) for
    every ordered pair of modalities in ``pairs``. The result (the same
    labels object with ``cross_labels``, ``plans`` and ``centroids``) goes
    to the model's and the sampler's ``set_pseudo_labels`` and back to the
    message hub. Where true ids exist the hook logs association accuracy
    against chance. A modality without clusters yields no association
    (logged; loss terms skipped).

    Args:
        start_epoch (int): First epoch (0-based) that associates (when
            ``stages`` is not given). Defaults to 0.
        stages (Sequence[str], optional): Associate during these training
            stages of the run's :class:`~mmvireid.engine.StageHook` (its
            info ``'stage'`` in the message hub) instead of from
            ``start_epoch``: the stage hook's epochs are then the only copy
            of the schedule. Checked against the stage hook's stages
            before training.
        associator (dict, optional): Config of the associator
            (``TASK_UTILS``). Defaults to
            ``dict(type='OTAssociator', lambda_ot=lambda_ot,
            reference_stop=reference_stop)``.
        pairs (list[tuple[str, str]], optional): Ordered ``(source,
            destination)`` modality pairs to associate. Defaults to every
            ordered pair of the declared modalities, grouped by destination
            in declared order (two modalities: ``infrared->visible``, then
            ``visible->infrared``).
        lambda_ot (float): OT sharpness λ of the default associator.
        cmfp_k (int, optional): ``k_tr`` of train-time CMFP; None skips it.
            Needs exactly two modalities.
        reference_stop (bool): The default associator stops Sinkhorn by the
            SALCR reference's rule (column scaling changing by < 10 %)
            instead of solving to convergence with POT. Defaults to False;
            the SYSU-MM01 / RegDB configs set True to reproduce the
            published association. On SynthVI the converged plan associated
            better (+3 mAP for +DAGL, seeds 0 and 2).
        ground_truth (bool): Associate by the true ids instead (each
            instance gets the other modality's cluster of its identity): the
            supervised ceiling of an ablation, never an unsupervised result.
            Defaults to False.
    """

    priority = 45

    def __init__(self,
                 start_epoch: Optional[int] = None,
                 stages: Optional[Sequence[str]] = None,
                 associator: Optional[dict] = None,
                 pairs: Optional[Sequence[Tuple[str, str]]] = None,
                 lambda_ot: float = 5.0,
                 cmfp_k: Optional[int] = None,
                 reference_stop: bool = False,
                 ground_truth: bool = False) -> None:
        if cmfp_k is not None and cmfp_k < 1:
            raise ValueError(f'AssociationHook: cmfp_k must be >= 1 or None,'
                             f' got {cmfp_k}')
        if associator is None:
            associator = dict(
                type='OTAssociator',
                lambda_ot=lambda_ot,
                reference_stop=reference_stop)
        self.associator = TASK_UTILS.build(associator)
        if not isinstance(self.associator, BaseAssociator):
            raise TypeError('AssociationHook: associator must build a '
                            'BaseAssociator, got '
                            f'{type(self.associator).__name__}')
        self.pairs = None if pairs is None else [tuple(p) for p in pairs]
        if self.pairs is not None and any(
                len(p) != 2 or p[0] == p[1] for p in self.pairs):
            raise ValueError('AssociationHook: pairs must be (source, '
                             f'destination) of two modalities, got {pairs}')
        self.ground_truth = ground_truth
        if stages is not None and start_epoch is not None:
            raise ValueError('AssociationHook: give start_epoch or stages, '
                             f'not both (got {start_epoch} and {stages})')
        if isinstance(stages, str):
            stages = (stages, )
        self.stages = None if stages is None else tuple(stages)
        self.start_epoch = 0 if start_epoch is None else start_epoch
        self.cmfp_k = cmfp_k
        self.result: Optional[PseudoLabels] = None

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
        """Check the settings against the training set's modalities."""
        modalities = runner.train_dataloader.dataset.metainfo.get(
            'modalities', ())
        self.pairs_of(modalities)
        if self.stages is not None:
            known = runner.message_hub.get_info('stages')
            if known is None:
                raise ValueError(
                    f'AssociationHook(stages={self.stages}) needs a '
                    'StageHook in custom_hooks (it publishes the stages)')
            unknown = [s for s in self.stages if s not in known]
            if unknown:
                raise ValueError(
                    f'AssociationHook: stages {unknown} are not stages of '
                    f'the StageHook, which has {tuple(known)}')
        if self.cmfp_k is not None and len(modalities) != 2:
            raise ValueError('AssociationHook: cmfp_k (cross-modality '
                             'propagation) needs exactly two modalities, the '
                             f'dataset declares {tuple(modalities)}')

    def active(self, runner: Runner) -> bool:
        """Whether this epoch associates (its stage, or ``start_epoch``)."""
        if self.stages is not None:
            return runner.message_hub.get_info('stage') in self.stages
        return runner.epoch >= self.start_epoch

    def before_train_epoch(self, runner: Runner) -> None:
        """Associate the current clusters (in the scheduled epochs)."""
        if not self.active(runner):
            return
        clusters = runner.message_hub.get_info('pseudo_labels')
        if clusters is None or clusters.features is None:
            raise RuntimeError(
                'AssociationHook needs the features of this epoch; cluster '
                'every epoch (ClusteringHook interval=1) when associating')
        start = time.perf_counter()
        self.result = self.associate(clusters)
        seconds = time.perf_counter() - start
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

    def associate(self, clusters: PseudoLabels) -> PseudoLabels:
        """Cross labels of every instance (−1 for outliers / none).

        Returns:
            PseudoLabels: ``clusters`` with (possibly re-assigned) labels,
            ``cross_labels`` and ``plans`` per pair and each modality's
            ``centroids`` (of the refined features); ``features`` stay the
            clustering's (not propagated).
        """
        if self.ground_truth:
            return self._true_association(clusters)
        modalities = clusters.modalities
        labels = clusters.labels.clone()
        index = {m: clusters.indices(m) for m in modalities}
        feats = {m: clusters.features[index[m]] for m in modalities}
        own = {m: labels[index[m]] for m in modalities}
        if self.cmfp_k is not None and all(len(i) for i in index.values()):
            first, second = modalities
            feats[first], feats[second] = cross_modality_propagation(
                feats[first], feats[second], k=self.cmfp_k)
            for m in modalities:
                kept = own[m] >= 0
                if kept.any():
                    own[m][kept] = reassign_to_centroids(
                        feats[m][kept], cluster_centroids(feats[m], own[m]))
                    labels[index[m]] = own[m]
        centroids = {
            m: cluster_centroids(feats[m], own[m])
            for m in modalities
        }
        cross_labels, plans = {}, {}
        for source, destination in self.pairs_of(modalities):
            association = self.associator(
                ClusterSet(feats[source], own[source], centroids[source]),
                ClusterSet(feats[destination], own[destination],
                           centroids[destination]))
            cross = torch.full_like(labels, -1)
            cross[index[source]] = association.cross_labels
            key = pair_key(source, destination)
            cross_labels[key] = cross
            if association.plan is not None:
                plans[key] = association.plan
        return clusters.with_fields(
            labels=labels,
            cross_labels=cross_labels,
            plans=plans,
            centroids=centroids)

    def _true_association(self, clusters: PseudoLabels) -> PseudoLabels:
        """Cross labels from the true ids: each instance gets the cluster
        of the other modality whose majority identity is its own (-1 if
        none). For the supervised ceiling of an ablation only."""
        labels = clusters.labels.numpy()
        pids = clusters.pids.numpy()
        uniq, code = np.unique(pids, return_inverse=True)
        cross_labels = {}
        for source, destination in self.pairs_of(clusters.modalities):
            src = clusters.mask(source).numpy()
            dst = clusters.mask(destination).numpy()
            majority = majority_identity(labels[dst], pids[dst])
            table = np.full(len(uniq), -1, dtype=np.int64)
            valid = np.flatnonzero(majority >= 0)
            table[np.searchsorted(uniq, majority[valid])] = valid
            cross = np.full(len(labels), -1, dtype=np.int64)
            cross[src] = np.where(labels[src] >= 0, table[code[src]], -1)
            cross_labels[pair_key(source,
                                  destination)] = torch.from_numpy(cross)
        centroids = {
            m:
            cluster_centroids(clusters.features[clusters.indices(m)],
                              clusters.labels[clusters.indices(m)])
            for m in clusters.modalities
        }
        return clusters.with_fields(
            cross_labels=cross_labels, centroids=centroids)

    def _log(self, runner: Runner, result: PseudoLabels,
             seconds: float) -> None:
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
        if parts:
            runner.logger.info(f'epoch {runner.epoch + 1} association: ' +
                               '; '.join(parts) + f' [{seconds:.1f} s]')
