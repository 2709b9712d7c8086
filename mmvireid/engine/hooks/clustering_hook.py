"""Per-epoch pseudo-labelling by k-reciprocal Jaccard distance + DBSCAN."""
import time
from typing import Dict, Optional, Union

import numpy as np
import torch
from mmengine.dist import broadcast_object_list, get_dist_info
from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper
from mmengine.optim import AmpOptimWrapper
from mmengine.runner import Runner

from mmvireid.evaluation.functional import cluster_quality
from mmvireid.models.utils import cluster_dbscan
from mmvireid.registry import HOOKS
from mmvireid.structures import PseudoLabelConsumer, PseudoLabels
from mmvireid.utils.knn import check_knn_cfg
from ..feature_extraction import extract_features, split_by_modality

LABEL_SOURCES = ('dbscan', 'ground_truth')


@HOOKS.register_module()
class ClusteringHook(Hook):
    """Cluster the training set per modality at the start of epochs.

    At each scheduled epoch the hook extracts eval-mode features of every
    training image (sharded across ranks, gathered), clusters each of the
    dataset's declared modalities (metainfo ``modalities``) on rank 0 with
    the k-reciprocal Jaccard distance and DBSCAN (Cluster-Contrast,
    https://arxiv.org/abs/2103.11568), broadcasts the labels and hands the
    resulting :class:`~mmvireid.structures.PseudoLabels` on:

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
    set keeps true ids for diagnostics, purity and NMI. Its labels (not the
    features) are saved in checkpoints and re-applied when a run resumes at
    an epoch that does not re-cluster.

    Args:
        extract_dataloader (dict): Dataloader config over the training set
            with a test-time pipeline (same dataset, same sample order).
        eps (float | dict): DBSCAN radius, or one per declared modality
            (``dict(<modality>=<eps>, ...)``, checked against the dataset's
            modalities before the first extraction).
        min_samples (int): DBSCAN ``min_samples``. Defaults to 4.
        k1 (int): k-reciprocal neighbourhood size. Defaults to 30.
        k2 (int): Query-expansion size. Defaults to 6.
        interval (int): Cluster every ``interval`` epochs. Defaults to 1.
        centre_features (bool): Subtract each modality's mean feature before
            clustering (helps near-collinear features of untrained models).
        label_source (str): ``'dbscan'`` (default, unsupervised) or
            ``'ground_truth'``: the true ids of the training set, renumbered
            per modality, replace the clusters (the supervised *ceiling* of
            an ablation; never an unsupervised result). Features are still
            extracted (memories and association need them).
        show_progress (bool): Progress bar during extraction.
        amp (bool, optional): Extract under mixed precision. ``None``
            (default) follows the run: mixed precision when the optimiser
            wrapper is an ``AmpOptimWrapper`` (``tools/train.py --amp``).
        knn_cfg (dict, optional): k-NN options of the Jaccard distance,
            any of :data:`mmvireid.utils.knn.KNN_OPTIONS`, e.g. ``dict(knn_backend='faiss',
            faiss_index='ivf')`` or ``dict(chunk_size=1024)`` (see
            :func:`~mmvireid.models.utils.k_reciprocal_jaccard`). Checked
            when the hook is built. Defaults to the exact torch search.
    """

    priority = 'ABOVE_NORMAL'

    def __init__(self,
                 extract_dataloader: dict,
                 eps: Union[float, Dict[str, float]] = 0.6,
                 min_samples: int = 4,
                 k1: int = 30,
                 k2: int = 6,
                 interval: int = 1,
                 centre_features: bool = False,
                 label_source: str = 'dbscan',
                 show_progress: bool = True,
                 amp: Optional[bool] = None,
                 knn_cfg: Optional[dict] = None) -> None:
        self.knn_cfg = check_knn_cfg(knn_cfg)
        if label_source not in LABEL_SOURCES:
            raise ValueError(f'label_source must be one of {LABEL_SOURCES},'
                             f' got {label_source!r}')
        self.label_source = label_source
        self.extract_dataloader_cfg = extract_dataloader
        for value in (eps.values() if isinstance(eps, dict) else [eps]):
            if not 0 < value < 1:
                raise ValueError('ClusteringHook: eps (a Jaccard distance) '
                                 f'must be in (0, 1), got {eps!r}')
        self.eps = eps
        self.min_samples = min_samples
        self.k1 = k1
        self.k2 = k2
        self.interval = interval
        self.centre_features = centre_features
        self.show_progress = show_progress
        self.amp = amp
        self.result: Optional[PseudoLabels] = None
        self._restored: Optional[PseudoLabels] = None

    def eps_of(self, modality: str) -> float:
        """DBSCAN radius of ``modality``."""
        return self.eps[modality] if isinstance(self.eps, dict) else self.eps

    def before_train(self, runner: Runner) -> None:
        """Build the extraction dataloader and check it matches training
        (same size, declared modalities covered by ``eps``)."""
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
        if isinstance(self.eps, dict) and set(self.eps) != set(modalities):
            raise ValueError(
                f'ClusteringHook: eps gives {sorted(self.eps)} but the '
                f'dataset declares the modalities {tuple(modalities)}; give '
                'one eps per modality, or a single number')
        self.label_features(runner)
        sampler = getattr(runner.train_dataloader, 'sampler', None)
        if hasattr(sampler, 'check_batch_size'):
            sampler.check_batch_size(runner.train_dataloader.batch_size)

    @staticmethod
    def label_features(runner: Runner) -> tuple:
        """The features to extract: the model's ``label_features`` (just
        ``('global',)`` for a model without them), checked."""
        model = runner.model.module if is_model_wrapper(
            runner.model) else runner.model
        names = tuple(getattr(model, 'label_features', ('global', )))
        unknown = set(names) - {'global', 'parts'}
        if 'global' not in names or unknown:
            raise ValueError(
                f'ClusteringHook: the model asks for the label features '
                f"{names}; the extraction provides 'global' (required) and "
                f"'parts'")
        return names

    def before_train_epoch(self, runner: Runner) -> None:
        """Cluster (on scheduled epochs) and apply the labels."""
        if runner.epoch % self.interval == 0:
            self.result = self.cluster(runner)
        elif self.result is None and self._restored is not None:
            self.result = self._restored
        elif self.result is None:
            self.result = self.cluster(runner)
        self._restored = None
        self.apply(runner, self.result)

    def uses_amp(self, runner: Runner) -> bool:
        """Whether extraction runs under mixed precision (see ``amp``)."""
        if self.amp is not None:
            return self.amp
        return isinstance(
            getattr(runner, 'optim_wrapper', None), AmpOptimWrapper)

    def cluster(self, runner: Runner) -> PseudoLabels:
        """Extract features and cluster each declared modality.

        Returns:
            PseudoLabels: ``labels``, ``modality_ids``, ``features`` (N, D)
            normalised, ``part_features`` when extracted, true ``pids``
            (diagnostics) and ``epoch``.
        """
        start = time.perf_counter()
        out = extract_features(
            runner.model,
            self.dataloader,
            self.show_progress,
            amp=self.uses_amp(runner),
            features=self.label_features(runner))
        extracted = time.perf_counter()
        modalities = out['modalities']
        labels = np.full(len(out['pids']), -1, dtype=np.int64)
        rank, _ = get_dist_info()
        split = split_by_modality(out['modality_ids'], modalities)
        if rank == 0:
            for modality in modalities:
                index = split[modality]
                if not len(index):
                    continue
                if self.label_source == 'ground_truth':
                    labels[index] = np.unique(
                        out['pids'][index].numpy(), return_inverse=True)[1]
                    continue
                feats = out['features'][index]
                if self.centre_features:
                    feats = torch.nn.functional.normalize(
                        feats - feats.mean(0, keepdim=True), dim=1)
                labels[index] = cluster_dbscan(
                    feats,
                    eps=self.eps_of(modality),
                    min_samples=self.min_samples,
                    k1=self.k1,
                    k2=self.k2,
                    **self.knn_cfg)
        shared = [labels]
        broadcast_object_list(shared)
        result = PseudoLabels(
            modalities=modalities,
            modality_ids=out['modality_ids'],
            labels=torch.from_numpy(shared[0]),
            features=out['features'],
            part_features=out.get('part_features'),
            pids=out['pids'],
            epoch=runner.epoch)
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
            if stats['num_clusters'] == 0:
                empty.append((modality, len(index)))
        for key, value in seconds.items():
            runner.message_hub.update_scalar(f'clustering/{key}_seconds',
                                             value)
        runner.logger.info(f'epoch {runner.epoch + 1} clustering: ' +
                           '; '.join(parts) +
                           f' [extraction {seconds["extraction"]:.1f} s, '
                           f'Jaccard + DBSCAN {seconds["clustering"]:.1f} s]')
        for modality, count in empty:
            runner.logger.warning(
                f'no {modality} cluster found (every one of its {count} '
                f'images is an outlier at eps={self.eps_of(modality)}, '
                f'min_samples={self.min_samples}): its loss terms are '
                'skipped' if count else
                f'no {modality} image in the training set: its loss terms '
                'are skipped')

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
