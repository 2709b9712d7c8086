"""P x K cluster samplers of the two training stages of cross-modal USL."""
from typing import Iterator, Optional, Sequence

import numpy as np
from mmengine.dist import get_dist_info, sync_random_seed
from torch.utils.data import Sampler

from mmvireid.registry import DATA_SAMPLERS

MODES = ('intra', 'paired')


@DATA_SAMPLERS.register_module()
class CrossModalClusterSampler(Sampler):
    """Yield batches of pseudo-identities of both modalities.

    The labels come from the clustering hooks through :meth:`set_labels`
    at the start of each epoch; the epoch length is fixed
    (``iters_per_epoch`` batches per rank, as in the reference methods,
    not one pass over the data), so the loop never changes length.

    ``mode='intra'`` (stage 1, intra-modality learning): each batch is
    ``num_clusters`` visible clusters x ``num_instances`` images, then
    ``num_clusters`` infrared clusters x ``num_instances`` images.

    ``mode='paired'`` (stage 2, SALCR): each batch holds
    ``num_clusters // 2`` pseudo-identities anchored in visible clusters
    and as many anchored in infrared clusters. For each, ``num_instances``
    visible and ``num_instances`` infrared images share the pseudo-identity
    through the cross-modal labels; position ``j`` of the visible half and
    position ``j`` of the infrared half belong to the same pseudo-identity
    (FGSAL pairs images by position). Clusters without a counterpart in the
    other modality are not drawn.

    Images of a cluster smaller than ``num_instances`` are drawn with
    replacement. Every rank draws different clusters (its seed includes the
    rank and the epoch).

    Args:
        dataset: The training dataset (only its length is used).
        num_clusters (int): Clusters per modality per batch (``P``).
        num_instances (int): Images per cluster (``K``).
        iters_per_epoch (int): Batches per epoch and rank.
        mode (str): ``'intra'`` or ``'paired'``.
        seed (int, optional): Base seed, synchronised across ranks.
    """

    def __init__(self,
                 dataset,
                 num_clusters: int = 12,
                 num_instances: int = 12,
                 iters_per_epoch: int = 300,
                 mode: str = 'intra',
                 seed: Optional[int] = None) -> None:
        if mode not in MODES:
            raise ValueError(f'mode must be one of {MODES}, got {mode!r}')
        if mode == 'paired' and num_clusters % 2:
            raise ValueError('paired mode needs an even num_clusters (half '
                             f'visible-anchored), got {num_clusters}')
        self.dataset_size = len(dataset)
        self.num_clusters = num_clusters
        self.num_instances = num_instances
        self.iters_per_epoch = iters_per_epoch
        self.mode = mode
        self.rank, self.world_size = get_dist_info()
        self.seed = sync_random_seed() if seed is None else seed
        self.epoch = 0
        self.labels: Optional[dict] = None

    @property
    def batch_size(self) -> int:
        """Images per batch: ``2 * num_clusters * num_instances``."""
        return 2 * self.num_clusters * self.num_instances

    def set_labels(self,
                   infrared: Sequence[bool],
                   labels: Sequence[int],
                   cross_labels: Optional[Sequence[int]] = None) -> None:
        """Give the pseudo-labels of this epoch.

        Args:
            infrared (Sequence[bool]): Per dataset index, whether the image
                is infrared.
            labels (Sequence[int]): Per index, the intra-modality cluster
                (``-1`` = outlier, not drawn).
            cross_labels (Sequence[int], optional): Per index, the cluster of
                the *other* modality it is associated with (``-1`` = none);
                required by ``mode='paired'``.
        """
        infrared = np.asarray(infrared, dtype=bool)
        labels = np.asarray(labels, dtype=np.int64)
        if len(infrared) != self.dataset_size or \
                len(labels) != self.dataset_size:
            raise ValueError(f'labels for {self.dataset_size} samples '
                             f'expected, got {len(labels)}')
        if self.mode == 'paired' and cross_labels is None:
            raise ValueError("mode='paired' needs cross_labels")
        cross = None if cross_labels is None else np.asarray(
            cross_labels, dtype=np.int64)
        self.labels = dict(
            visible=_members(labels, ~infrared),
            infrared=_members(labels, infrared))
        if cross is not None:
            # infrared images grouped by the visible cluster they join, and
            # visible images by the infrared cluster they join
            self.labels['infrared_in_visible'] = _members(cross, infrared)
            self.labels['visible_in_infrared'] = _members(cross, ~infrared)
        if not self.labels['visible'] or not self.labels['infrared']:
            raise ValueError(
                'no cluster found in the '
                f'{"visible" if not self.labels["visible"] else "infrared"} '
                'modality: every image is an outlier (check the clustering '
                'eps / min_samples)')

    def set_epoch(self, epoch: int) -> None:
        """Called by ``DistSamplerSeedHook``: reseeds the epoch's draws."""
        self.epoch = epoch

    def __len__(self) -> int:
        return self.iters_per_epoch * self.batch_size

    def __iter__(self) -> Iterator[int]:
        if self.labels is None:
            raise RuntimeError(
                'CrossModalClusterSampler has no pseudo-labels: a clustering '
                'hook must call set_labels() before the epoch starts')
        rng = np.random.default_rng(
            [self.seed, self.epoch, self.rank, self.world_size])
        draw = self._intra_batch if self.mode == 'intra' else \
            self._paired_batch
        for _ in range(self.iters_per_epoch):
            yield from draw(rng).tolist()

    def _take(self, rng, members: np.ndarray) -> np.ndarray:
        return rng.choice(
            members,
            self.num_instances,
            replace=len(members) < self.num_instances)

    def _clusters(self, rng, groups: dict, count: int) -> list:
        keys = np.array(sorted(groups))
        return rng.choice(keys, count, replace=len(keys) < count).tolist()

    def _intra_batch(self, rng) -> np.ndarray:
        parts = []
        for modality in ('visible', 'infrared'):
            groups = self.labels[modality]
            for cluster in self._clusters(rng, groups, self.num_clusters):
                parts.append(self._take(rng, groups[cluster]))
        return np.concatenate(parts)

    def _paired_batch(self, rng) -> np.ndarray:
        half = self.num_clusters // 2
        visible, infrared = [], []
        for own, other in (('visible', 'infrared_in_visible'),
                           ('infrared', 'visible_in_infrared')):
            paired = {
                c: m
                for c, m in self.labels[own].items() if c in self.labels[other]
            }
            if not paired:
                raise ValueError(
                    f'no {own} cluster has an associated image of the other '
                    'modality: the cross-modal association found nothing')
            for cluster in self._clusters(rng, paired, half):
                own_part = self._take(rng, paired[cluster])
                other_part = self._take(rng, self.labels[other][cluster])
                if own == 'visible':
                    visible.append(own_part)
                    infrared.append(other_part)
                else:
                    visible.append(other_part)
                    infrared.append(own_part)
        return np.concatenate(visible + infrared)


def _members(labels: np.ndarray, mask: np.ndarray) -> dict:
    """``{label: indices}`` of the masked, non-outlier samples."""
    indices = np.flatnonzero(mask & (labels >= 0))
    if not len(indices):
        return {}
    order = np.argsort(labels[indices], kind='stable')
    indices = indices[order]
    uniq, starts = np.unique(labels[indices], return_index=True)
    return dict(zip(uniq.tolist(), np.split(indices, starts[1:])))
