"""Per-epoch pseudo-labelling by a registered clusterer."""
import time
from typing import Dict, Optional, Sequence, Union

import numpy as np
import torch
from mmengine.dist import broadcast_object_list, get_dist_info
from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper
from mmengine.optim import AmpOptimWrapper
from mmengine.runner import Runner

from mmvireid.evaluation.functional import cluster_quality
from mmvireid.models.task_modules import BaseClusterer
from mmvireid.registry import HOOKS
from mmvireid.structures import PseudoLabelConsumer, PseudoLabels
from ..feature_extraction import check_extracted_features, extract_features
from ..seeding import seeded_generators
from .component_schedule import ComponentSchedule, ScheduledComponent

# the key of the extraction's random stream (seeded_generators)
EXTRACTION_STREAM = 1

#: the clusterer of a ClusteringHook built without one (SYSU-MM01's)
DEFAULT_CLUSTERER = dict(type='JaccardDBSCAN', eps=0.6)
#: the hook's key in mmvireid's configs (``custom_hooks`` by name), named
#: by the messages
CONFIG_KEY = 'custom_hooks.clustering'


@HOOKS.register_module()
class ClusteringHook(Hook):
    """Cluster the training set per modality at the start of epochs.

    At each scheduled epoch the hook extracts eval-mode features of every
    training image (sharded across ranks, gathered), runs its ``clusterer``
    (a registered :class:`~mmvireid.models.task_modules.BaseClusterer`,
    e.g. :class:`~mmvireid.models.task_modules.JaccardDBSCAN`: the
    k-reciprocal Jaccard distance and DBSCAN of Cluster-Contrast,
    https://arxiv.org/abs/2103.11568) over each of the dataset's declared
    modalities (metainfo ``modalities``) on rank 0, broadcasts the labels
    and hands the resulting :class:`~mmvireid.structures.PseudoLabels` on:

    - to the model's ``set_pseudo_labels`` (which hands it to every
      :class:`~mmvireid.structures.PseudoLabelConsumer` sub-module: heads
      re-initialise their memories from it);
    - to the train sampler's ``set_pseudo_labels``;
    - to later label-pipeline hooks (e.g. ``AssociationHook``) through the
      runner's message hub (info ``'pseudo_labels'``, not saved in
      checkpoints: the hook saves the labels itself).

    Labels live in separate spaces per modality (0..K_m-1 each), ``-1``
    marks outliers; the dataset never shrinks, so the epoch length stays
    fixed. The hook logs cluster and outlier counts and, as the training
    set keeps true ids for diagnostics, purity and NMI, with the seconds of
    the extraction and of the clusterer (named). Its labels (not the
    features) are saved in checkpoints and re-applied when a run resumes at
    an epoch that does not re-cluster.

    Degenerate pseudo-labels are never silent (issue #10). Before training
    (in ``before_train``, before the first extraction) a declared modality
    without images is an error naming the dataset and its ``data_root``,
    and so is a size the clusterer cannot work with
    (:meth:`~mmvireid.models.task_modules.BaseClusterer.check_sizes`, e.g.
    JaccardDBSCAN's ``k1`` not below a modality's image count, or a
    modality of one image). At every clustering, a modality with one
    cluster (its cluster-contrast terms are exactly 0) or none (its terms
    are skipped) gets a warning each time, with the clusterer's settings;
    when no modality has two clusters or more the hook raises
    ``ValueError``: every cluster-contrast loss would be exactly 0.

    The hook clusters at the epochs of its ``interval`` that the
    clusterer's own ``schedule`` (see
    :class:`~mmvireid.engine.hooks.component_schedule.ComponentSchedule`)
    also allows; other epochs keep the last labels. The first epoch of a
    run always has labels: it clusters unless it re-applies those of a
    checkpoint.

    Args:
        extract_dataloader (dict): Dataloader config over the training set
            with a test-time pipeline (same dataset, same sample order).
        clusterer (dict | BaseClusterer, optional): Config of the clusterer
            (``TASK_UTILS``), optionally with ``schedule=dict(start_epoch=,
            stages=, interval=)``; built (and its arguments checked) with
            the hook, and checked against the dataset's modalities before
            the first extraction. Defaults to
            ``dict(type='JaccardDBSCAN', eps=0.6)``; the supervised ceiling
            of an ablation uses ``dict(type='GroundTruthClusterer')``.
        interval (int): Cluster every ``interval`` epochs. Defaults to 1.
        show_progress (bool): Progress bar during extraction.
        amp (bool, optional): Extract under mixed precision. ``None``
            (default) follows the run: mixed precision when the optimiser
            wrapper is an ``AmpOptimWrapper`` (``tools/train.py --amp``).
    """

    priority = 'ABOVE_NORMAL'

    def __init__(self,
                 extract_dataloader: dict,
                 clusterer: Union[dict, BaseClusterer, None] = None,
                 interval: int = 1,
                 show_progress: bool = True,
                 amp: Optional[bool] = None) -> None:
        self.extract_dataloader_cfg = extract_dataloader
        self.schedule = ComponentSchedule(
            interval=interval, owner='ClusteringHook')
        self._clusterer = ScheduledComponent.build(
            DEFAULT_CLUSTERER if clusterer is None else clusterer,
            BaseClusterer,
            owner='ClusteringHook clusterer')
        self.show_progress = show_progress
        self.amp = amp
        self.result: Optional[PseudoLabels] = None
        self._restored: Optional[PseudoLabels] = None

    @property
    def clusterer(self) -> BaseClusterer:
        """The built clusterer."""
        return self._clusterer.component

    def before_train(self, runner: Runner) -> None:
        """Build the extraction dataloader and check it matches training
        (same size, declared modalities the clusterer accepts)."""
        self.dataloader = runner.build_dataloader(
            self.extract_dataloader_cfg, seed=runner.seed)
        train_size = len(runner.train_dataloader.dataset)
        if len(self.dataloader.dataset) != train_size:
            raise ValueError(
                f'ClusteringHook: extract_dataloader has '
                f'{len(self.dataloader.dataset)} samples but the training set '
                f'has {train_size}; both must be the same dataset')
        modalities = self.dataloader.dataset.metainfo.get('modalities')
        if not modalities:
            raise ValueError('ClusteringHook: the extraction dataset declares'
                             " no modalities (metainfo['modalities'])")
        self._clusterer.check(tuple(modalities), runner.message_hub)
        self.check_sizes(tuple(modalities))
        self.label_features(runner)
        sampler = getattr(runner.train_dataloader, 'sampler', None)
        if hasattr(sampler, 'check_batch_size'):
            sampler.check_batch_size(runner.train_dataloader.batch_size)

    def check_sizes(self, modalities: Sequence[str]) -> None:
        """Every declared modality of the extraction dataset has images,
        as many as the clusterer needs (its ``check_sizes``).

        A dataset that lists its samples' modalities neither through
        ``get_modalities()`` nor ``get_data_info()`` is not checked.

        Raises:
            ValueError: Naming the modality, its image count, the dataset
                (type and ``data_root``) and, for a clusterer setting, its
                key (``custom_hooks.clustering.clusterer.k1``) and value.
        """
        dataset = self.dataloader.dataset
        counts = _modality_counts(dataset, modalities)
        if counts is None:
            return
        where = _describe_dataset(dataset)
        for modality, count in counts.items():
            if not count:
                raise ValueError(
                    f'ClusteringHook: the training set ({where}) has no '
                    f'{modality!r} image, but it declares the modalities '
                    f'{tuple(modalities)}: each declared modality needs '
                    'images to cluster (check the dataset and its '
                    'data_root; eps / min_samples are not the cause)')
        check = getattr(self.clusterer, 'check_sizes', None)
        if check is None:
            return
        try:
            check(counts, key=f'{CONFIG_KEY}.clusterer')
        except ValueError as err:
            if type(err) is not ValueError:
                raise
            sizes = ', '.join(f'{n} {m}' for m, n in counts.items())
            raise ValueError(f'ClusteringHook: {err} [training set: {where}; '
                             f'{sizes} images]') from err

    @staticmethod
    def label_features(runner: Runner) -> tuple:
        """The features to extract: the model's ``label_features`` (just
        ``('global',)`` for a model without them), checked."""
        model = runner.model.module if is_model_wrapper(
            runner.model) else runner.model
        return check_extracted_features(
            getattr(model, 'label_features', ('global', )),
            "ClusteringHook (the model's label_features)")

    def before_train_epoch(self, runner: Runner) -> None:
        """Cluster (on scheduled epochs) and apply the labels."""
        if self.schedule.active(runner) and self._clusterer.active(runner):
            self.result = self.cluster(runner)
        elif self.result is None and self._restored is not None:
            self.result = self._restored
            runner.logger.info(
                f'epoch {runner.epoch + 1} clustering: the labels of the '
                f'checkpoint (epoch {self.result.epoch + 1}) re-applied')
        elif self.result is None:
            self.result = self.cluster(runner)
        else:
            runner.logger.info(
                f'epoch {runner.epoch + 1} clustering: not scheduled, the '
                f'labels of epoch {self.result.epoch + 1} kept')
        self._restored = None
        self.apply(runner, self.result)

    def uses_amp(self, runner: Runner) -> bool:
        """Whether extraction runs under mixed precision (see ``amp``)."""
        if self.amp is not None:
            return self.amp
        return isinstance(
            getattr(runner, 'optim_wrapper', None), AmpOptimWrapper)

    def cluster(self, runner: Runner) -> PseudoLabels:
        """Extract features and run the clusterer (rank 0, broadcast).

        Returns:
            PseudoLabels: ``labels``, ``modality_ids``, ``features`` (N, D)
            normalised, ``part_features`` when extracted, true ``pids``
            (diagnostics) and ``epoch``.
        """
        start = time.perf_counter()
        # random extraction transforms (a virtual modality's channel
        # augmentation) draw the same numbers when the run is resumed here
        with seeded_generators(runner.seed or 0, runner.epoch, runner.rank,
                               EXTRACTION_STREAM):
            out = extract_features(
                runner.model,
                self.dataloader,
                self.show_progress,
                amp=self.uses_amp(runner),
                features=self.label_features(runner))
        extracted = time.perf_counter()
        result = PseudoLabels(
            modalities=out['modalities'],
            modality_ids=out['modality_ids'],
            labels=torch.full((len(out['pids']), ), -1, dtype=torch.long),
            features=out['features'],
            part_features=out.get('part_features'),
            pids=out['pids'],
            view_sources=_view_sources(self.dataloader.dataset),
            epoch=runner.epoch)
        labels = np.full(result.num_samples, -1, dtype=np.int64)
        rank, _ = get_dist_info()
        if rank == 0:
            labels = self.clusterer(result).labels.numpy()
        shared = [labels]
        broadcast_object_list(shared)
        result = result.with_fields(labels=torch.from_numpy(shared[0]))
        self._log(
            runner, result,
            dict(
                extraction=extracted - start,
                clustering=time.perf_counter() - extracted))
        return result

    def _log(self, runner: Runner, result: PseudoLabels,
             seconds: dict) -> None:
        parts = []
        empty = []
        counts: Dict[str, tuple] = {}
        labels, pids = result.labels.numpy(), result.pids.numpy()
        for modality in result.modalities:
            index = result.indices(modality).numpy()
            stats = cluster_quality(labels[index], pids[index])
            for key in ('num_clusters', 'num_outliers', 'purity', 'nmi'):
                runner.message_hub.update_scalar(
                    f'clustering/{modality}_{key}', stats[key])
            parts.append(
                f'{modality}: {stats["num_clusters"]} clusters, '
                f'{stats["num_outliers"]} outliers of {len(index)}, purity '
                f'{stats["purity"]:.3f}, NMI {stats["nmi"]:.3f} '
                f'({stats["num_ids"]} true ids)')
            counts[modality] = (int(stats['num_clusters']), len(index))
            if stats['num_clusters'] == 0:
                empty.append((modality, len(index)))
        for key, value in seconds.items():
            runner.message_hub.update_scalar(f'clustering/{key}_seconds',
                                             value)
        runner.logger.info(f'epoch {runner.epoch + 1} clustering: ' +
                           '; '.join(parts) +
                           f' [extraction {seconds["extraction"]:.1f} s, '
                           f'{self._clusterer.name} '
                           f'{seconds["clustering"]:.1f} s]')
        for modality, count in empty:
            settings = self.clusterer.describe(modality)
            runner.logger.warning(
                f'no {modality} cluster found (every one of its {count} '
                'images is an outlier' +
                (f' at {settings}' if settings else '') +
                '): its loss terms are skipped (check eps / min_samples)'
                if count else f'no {modality} image in the training set: '
                'its loss terms are skipped')
        self._check_degenerate(runner, counts)

    def _check_degenerate(self, runner: Runner, counts: Dict[str,
                                                             tuple]) -> None:
        """Warn of each modality with one cluster; raise when no modality
        has two (``counts``: modality -> (clusters, images))."""
        for modality, (clusters, images) in counts.items():
            if clusters != 1:
                continue
            settings = self.clusterer.describe(modality)
            runner.logger.warning(
                f'epoch {runner.epoch + 1} clustering: {modality}: 1 cluster '
                f'for {images} images' +
                (f' at {settings}' if settings else '') +
                ': its cluster-contrast loss terms are exactly 0 this epoch '
                '(a single class); check eps / k1')
        if any(clusters > 1 for clusters, _ in counts.values()):
            return
        found = ', '.join(f'{m}: {c} cluster{"" if c == 1 else "s"} for {n} '
                          'images' for m, (c, n) in counts.items())
        described = {m: self.clusterer.describe(m) for m in counts}
        if len(set(described.values())) == 1:
            settings = next(iter(described.values()))
        else:
            settings = '; '.join(f'{m}: {d}' for m, d in described.items())
        raise ValueError(
            f'ClusteringHook: epoch {runner.epoch + 1} clustering gave no '
            f'modality two clusters or more ({found}): every '
            'cluster-contrast loss would be exactly 0 and the epoch would '
            f'train nothing; check {CONFIG_KEY}.clusterer (eps / k1 / '
            'min_samples' + (f'; now {settings}' if settings else '') + ')')

    def apply(self, runner: Runner, result: PseudoLabels) -> None:
        """Give the labels to the model, the sampler and later hooks."""
        runner.message_hub.update_info('pseudo_labels', result, resumed=False)
        model = runner.model.module if is_model_wrapper(
            runner.model) else runner.model
        if isinstance(model, PseudoLabelConsumer):
            model.set_pseudo_labels(result)
        sampler = getattr(runner.train_dataloader, 'sampler', None)
        if isinstance(sampler, PseudoLabelConsumer):
            sampler.set_pseudo_labels(result)

    def before_save_checkpoint(self, runner: Runner, checkpoint: dict) -> None:
        """Keep the current labels so a resumed run can re-apply them."""
        if self.result is not None:
            checkpoint['clustering'] = self.result.state_dict()

    def after_load_checkpoint(self, runner: Runner, checkpoint: dict) -> None:
        """Restore the labels of the checkpoint (used if not re-clustering).

        Checkpoints of mmvireid versions before the pseudo-label contract
        (no ``modality_ids``) are ignored with a warning: the next epoch
        re-clusters.
        """
        saved = checkpoint.get('clustering')
        if saved is None:
            return
        if 'modality_ids' not in saved:
            runner.logger.warning(
                'ClusteringHook: the checkpoint keeps labels in an older '
                'layout; they are not restored (the next epoch re-clusters)')
            return
        self._restored = PseudoLabels.from_state_dict(saved)


def _view_sources(dataset) -> Optional[torch.Tensor]:
    """The dataset's ``get_view_sources()`` (a virtual modality's images
    are views of real ones), or None for a dataset without views."""
    if not hasattr(dataset, 'get_view_sources'):
        return None
    return torch.as_tensor(
        np.asarray(dataset.get_view_sources()), dtype=torch.long)


def _modality_counts(dataset,
                     modalities: Sequence[str]) -> Optional[Dict[str, int]]:
    """Images of each declared modality (None if the dataset cannot
    tell without loading them)."""
    if hasattr(dataset, 'get_modalities'):
        names = np.asarray(dataset.get_modalities())
    elif hasattr(dataset, 'get_data_info'):
        names = np.array([
            dataset.get_data_info(i)['modality'] for i in range(len(dataset))
        ])
    else:
        return None
    return {m: int(np.count_nonzero(names == m)) for m in modalities}


def _describe_dataset(dataset) -> str:
    """``'<type>, data_root=...'`` (of the innermost wrapped dataset that
    has a ``data_root``)."""
    inner = dataset
    while getattr(inner, 'data_root', None) is None and hasattr(
            inner, 'dataset'):
        inner = inner.dataset
    root = getattr(inner, 'data_root', None)
    name = type(dataset).__name__
    return f'{name}, data_root={root!r}' if root else name
