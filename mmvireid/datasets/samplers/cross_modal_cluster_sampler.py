"""P x K cluster samplers of the two training stages of cross-modal USL."""
import numbers
from typing import Dict, Iterator, Optional, Tuple

import numpy as np
from mmengine.dist import get_dist_info, sync_random_seed
from torch.utils.data import Sampler

from mmvireid.registry import DATA_SAMPLERS
from mmvireid.structures.pseudo_labels import (PseudoLabelConsumer,
                                               PseudoLabels, pair_key)
from .drawn_index import DrawnIndex

MODES = ('intra', 'paired')


@DATA_SAMPLERS.register_module()
class CrossModalClusterSampler(Sampler, PseudoLabelConsumer):
    """Yield P x K batches of pseudo-identities of the declared modalities.

    The labels come from the label pipeline through
    :meth:`set_pseudo_labels` (a :class:`~mmvireid.structures.PseudoLabels`)
    at the start of each epoch; the epoch length is fixed
    (``iters_per_epoch`` batches per rank, as in the reference methods,
    not one pass over the data), so the loop never changes length. The
    sampler spells no modality name: it loops over ``pl.modalities`` in
    their declared order.

    ``mode='intra'`` (stage 1, intra-modality learning): for each declared
    modality in order, ``num_clusters`` clusters of that modality x
    ``num_instances`` images (a third modality, e.g. a channel-augmented
    view, gets its own ``num_clusters`` blocks after the first two). Only
    ``pl.labels`` is used; cross labels are ignored.

    ``mode='paired'`` (stage 2, SALCR) pairs the first two declared
    modalities ``A = modalities[0]``, ``B = modalities[1]``; further
    modalities are not drawn in this mode. Each batch holds
    ``num_clusters // 2`` pseudo-identities anchored in ``A`` clusters and
    as many anchored in ``B`` clusters. For each, ``num_instances`` ``A``
    and ``num_instances`` ``B`` images share the pseudo-identity through
    ``pl.cross_labels[pair_key(B, A)]`` / ``[pair_key(A, B)]``. The batch is
    the ``A`` half then the ``B`` half; position ``j`` of the ``A`` half
    and position ``j`` of the ``B`` half form a pair of the same
    pseudo-identity (FGSAL's image pairs), and both carry ``pair_id=j``.
    Clusters without a counterpart in the other modality are not drawn.
    A :meth:`set_pseudo_labels` without cross labels (the call right after
    clustering, before association) is stored; :meth:`__iter__` raises if
    no association has arrived by the time the epoch starts.

    Every yielded index is a :class:`DrawnIndex`: the dataset index (an
    ``int``, the same values in the same order as plain indices) with the
    ids of its slot in the batch, which the dataset and
    :class:`~mmvireid.datasets.transforms.PackVIReIDInputs` write into the
    data sample's metainfo (every view of it), so heads pair rows by id
    (:func:`~mmvireid.models.utils.pair_rows`), not by position:

    - ``group_id``: the pseudo-identity slot. ``'intra'``: the P x K block,
      ``0 .. len(modalities) * num_clusters - 1`` in batch order (blocks of
      different modalities have different ids). ``'paired'``: the
      pseudo-identity, ``0 .. num_clusters - 1``, shared by its ``A`` block
      and its ``B`` block.
    - ``pair_id``: ``'paired'``: position ``j`` in its half,
      ``0 .. num_clusters * num_instances - 1``, shared by the ``A`` image
      and the ``B`` image of a pair; ``'intra'``: ``-1`` (no pairs).

    The ids are batch-local (each batch numbers its slots from 0), one per
    slot: no two slots of a batch share one. Images of a cluster smaller
    than ``num_instances`` are drawn with replacement; a sample drawn twice
    is two slots with their own ids. Every rank draws different clusters
    (its seed includes the rank and the epoch).

    The batch size follows from the sampler (see :attr:`batch_size`):
    ``len(modalities) * num_clusters * num_instances`` in ``'intra'`` mode,
    ``2 * num_clusters * num_instances`` in ``'paired'`` mode. The
    modalities are the dataset's ``metainfo['modalities']`` when it
    declares them, else those of the first pseudo-labels.
    :meth:`check_batch_size` compares it with the DataLoader's.

    Args:
        dataset (Dataset): The training dataset (its length, and its
            ``metainfo['modalities']`` when it has one).
        num_clusters (int): Clusters per modality per batch (``P``).
        num_instances (int): Images per cluster (``K``).
        iters_per_epoch (int): Batches per epoch and rank (>= 1).
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
        sizes = dict(
            num_clusters=num_clusters,
            num_instances=num_instances,
            iters_per_epoch=iters_per_epoch)
        for key, value in sizes.items():
            # an epoch of 0 batches trained nothing and still reported
            # metrics (issue #10, row 4)
            if isinstance(value, bool) or not isinstance(
                    value, numbers.Integral) or value < 1:
                raise ValueError(
                    f'CrossModalClusterSampler: {key} must be an int >= 1, '
                    f'got {value!r} (train_dataloader.sampler.{key})')
        self.dataset_size = len(dataset)
        metainfo = getattr(dataset, 'metainfo', None)
        declared = metainfo.get('modalities') if isinstance(metainfo,
                                                            dict) else None
        #: the declared modalities (None until known)
        self.modalities: Optional[Tuple[str, ...]] = None if \
            declared is None else tuple(declared)
        self.num_clusters = num_clusters
        self.num_instances = num_instances
        self.iters_per_epoch = iters_per_epoch
        self.mode = mode
        self.rank, self.world_size = get_dist_info()
        self.seed = sync_random_seed() if seed is None else seed
        self.epoch = 0
        self.pseudo_labels: Optional[PseudoLabels] = None
        # modality -> {cluster: dataset indices}
        self._groups: Optional[Dict[str, dict]] = None
        # (src, dst) -> {dst cluster: indices of src samples joining it}
        self._joined: Dict[Tuple[str, str], dict] = {}
        self._checked_batch_size: Optional[int] = None

    # ------------------------------------------------------------ options
    @property
    def mode(self) -> str:
        """``'intra'`` or ``'paired'`` (a stage hook may switch it)."""
        return self._mode

    @mode.setter
    def mode(self, mode: str) -> None:
        if mode not in MODES:
            raise ValueError(f'mode must be one of {MODES}, got {mode!r}')
        if mode == 'paired' and self.num_clusters % 2:
            raise ValueError('paired mode needs an even num_clusters (half '
                             'anchored in each modality), got '
                             f'{self.num_clusters}')
        modalities = getattr(self, 'modalities', None)
        if mode == 'paired' and modalities is not None and \
                len(modalities) < 2:
            raise ValueError('paired mode pairs two modalities; the dataset '
                             f'declares {modalities}')
        self._mode = mode

    @property
    def batch_size(self) -> int:
        """Images per batch, derived from the modalities and P x K.

        ``len(modalities) * num_clusters * num_instances`` in ``'intra'``
        mode, ``2 * num_clusters * num_instances`` in ``'paired'`` mode
        (``num_clusters // 2`` anchors per paired modality x
        ``num_instances`` x 2 modalities, both halves).

        Raises:
            RuntimeError: The modalities are not known yet (the dataset has
                no ``metainfo['modalities']`` and no labels arrived).
        """
        if self.modalities is None:
            raise RuntimeError(
                'CrossModalClusterSampler: the batch size depends on the '
                'declared modalities, unknown until the dataset declares '
                "metainfo['modalities'] or set_pseudo_labels() is called")
        count = 2 if self.mode == 'paired' else len(self.modalities)
        return count * self.num_clusters * self.num_instances

    def check_batch_size(self, batch_size: int) -> None:
        """Check the DataLoader's (per-rank) batch size against the draws.

        A DataLoader cutting the index stream into batches of another size
        silently mixes P x K blocks (and mis-pairs rows in paired mode).
        The checked size is kept: :meth:`__iter__` raises if a later mode
        switch changes the sampler's batch size.

        Raises:
            ValueError: ``batch_size`` differs from :attr:`batch_size`.
        """
        expected = self.batch_size
        if batch_size != expected:
            raise ValueError(
                f'train_dataloader.batch_size={batch_size} but '
                f'CrossModalClusterSampler(mode={self.mode!r}) draws '
                f'batches of {expected} images ({self._batch_formula()}): '
                f'set train_dataloader.batch_size={expected}')
        self._checked_batch_size = int(batch_size)

    def _batch_formula(self) -> str:
        if self.mode == 'paired':
            pairs = f'{self.modalities[0]!r} + {self.modalities[1]!r}'
            return (f'2 paired modalities ({pairs}) x num_clusters='
                    f'{self.num_clusters} x num_instances='
                    f'{self.num_instances}')
        return (f'{len(self.modalities)} modalities {self.modalities} x '
                f'num_clusters={self.num_clusters} x num_instances='
                f'{self.num_instances}')

    # ------------------------------------------------------------- labels
    def set_pseudo_labels(self, pseudo_labels: PseudoLabels) -> None:
        """Take this epoch's pseudo-labels.

        Replaces everything the previous call gave (a call without cross
        labels drops earlier associations). In ``'paired'`` mode the cross
        labels may arrive in a later call (after association).

        Raises:
            ValueError: Labels of another number of samples or other
                modalities than the dataset's, or a modality the current
                mode draws has no cluster.
        """
        pl = pseudo_labels
        if pl.num_samples != self.dataset_size:
            raise ValueError(f'pseudo-labels for {self.dataset_size} samples '
                             f'expected, got {pl.num_samples}')
        if self.modalities is not None and pl.modalities != self.modalities:
            raise ValueError(
                f'pseudo-labels of modalities {pl.modalities}, but the '
                f'dataset declares {self.modalities} (the batch size '
                'follows from them)')
        if self.mode == 'paired' and len(pl.modalities) < 2:
            raise ValueError('paired mode pairs two modalities; the '
                             f'pseudo-labels declare {pl.modalities}')
        labels = pl.labels.numpy()
        ids = pl.modality_ids.numpy()
        groups = {
            m: _members(labels, ids == i)
            for i, m in enumerate(pl.modalities)
        }
        joined = {}
        for key, cross in pl.cross_labels.items():
            src, dst = pl.split_key(key)
            joined[(src, dst)] = _members(cross.long().numpy(),
                                          ids == pl.modalities.index(src))
        self.modalities = pl.modalities
        self.pseudo_labels = pl
        self._groups = groups
        self._joined = joined
        self._check_clusters()

    def _drawn_modalities(self) -> Tuple[str, ...]:
        return self.modalities[:2] if self.mode == 'paired' else \
            self.modalities

    def _check_clusters(self) -> None:
        """Every modality the current mode draws has a cluster."""
        for modality in self._drawn_modalities():
            if self._groups[modality]:
                continue
            count = int(self.pseudo_labels.mask(modality).sum())
            if not count:
                raise ValueError(
                    f'no {modality!r} sample in the pseudo-labels: the '
                    f'modality is declared in {self.modalities} but the '
                    'training set has no image of it (check the dataset / '
                    'its declared modalities)')
            raise ValueError(
                f'no {modality!r} cluster: all {count} {modality!r} images '
                'are outliers (label -1; check the clustering eps / '
                'min_samples)')

    def _pairs(self) -> Tuple[Tuple[str, str, dict, dict], ...]:
        """``(own, other, own groups, other joining own)`` per anchor."""
        first, second = self.modalities[:2]
        missing = [
            pair_key(src, dst)
            for src, dst in ((second, first), (first, second))
            if (src, dst) not in self._joined
        ]
        if len(missing) == 2:
            raise RuntimeError(
                "CrossModalClusterSampler(mode='paired') has no cross-modal "
                'association: an association step must call '
                'set_pseudo_labels() with cross_labels '
                f'{pair_key(first, second)!r} and {pair_key(second, first)!r}'
                ' before the epoch starts')
        if missing:
            raise RuntimeError(
                "CrossModalClusterSampler(mode='paired') needs the cross "
                f'labels of both directions; missing {missing[0]!r}')
        return ((first, second, self._groups[first], self._joined[(second,
                                                                   first)]),
                (second, first, self._groups[second], self._joined[(first,
                                                                    second)]))

    # ---------------------------------------------------------- iteration
    def set_epoch(self, epoch: int) -> None:
        """Called by ``DistSamplerSeedHook``: reseeds the epoch's draws."""
        self.epoch = epoch

    def __len__(self) -> int:
        return self.iters_per_epoch * self.batch_size

    def __iter__(self) -> Iterator[DrawnIndex]:
        if self._groups is None:
            raise RuntimeError(
                'CrossModalClusterSampler has no pseudo-labels: the label '
                'pipeline must call set_pseudo_labels() before the epoch '
                'starts')
        if self._checked_batch_size is not None and \
                self._checked_batch_size != self.batch_size:
            raise ValueError(
                f'train_dataloader.batch_size={self._checked_batch_size} '
                f'but CrossModalClusterSampler(mode={self.mode!r}) now '
                f'draws batches of {self.batch_size} images '
                f'({self._batch_formula()}): set '
                f'train_dataloader.batch_size={self.batch_size}')
        # the mode may have changed since the labels came
        self._check_clusters()
        if self.mode == 'intra':
            draw = self._intra_batch
        else:
            pairs = self._pairs()

            def draw(rng):
                return self._paired_batch(rng, pairs)

        slots = list(zip(*self._slot_ids()))
        rng = np.random.default_rng(
            [self.seed, self.epoch, self.rank, self.world_size])
        for _ in range(self.iters_per_epoch):
            for index, (group_id, pair_id) in zip(draw(rng).tolist(), slots):
                yield DrawnIndex(index, group_id, pair_id)

    def _slot_ids(self) -> Tuple[list, list]:
        """``group_id`` and ``pair_id`` of each position of a batch (the
        same for every batch of a mode; see the class docstring)."""
        p, k = self.num_clusters, self.num_instances
        if self.mode == 'paired':
            group_ids = np.tile(np.repeat(np.arange(p), k), 2)
            pair_ids = np.tile(np.arange(p * k), 2)
        else:
            group_ids = np.repeat(np.arange(len(self.modalities) * p), k)
            pair_ids = np.full(len(group_ids), -1)
        return group_ids.tolist(), pair_ids.tolist()

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
        for modality in self.modalities:
            groups = self._groups[modality]
            for cluster in self._clusters(rng, groups, self.num_clusters):
                parts.append(self._take(rng, groups[cluster]))
        return np.concatenate(parts)

    def _paired_batch(self, rng, pairs) -> np.ndarray:
        half = self.num_clusters // 2
        first, second = [], []
        for own, other, groups, joined in pairs:
            paired = {c: m for c, m in groups.items() if c in joined}
            if not paired:
                raise ValueError(
                    f'no {own!r} cluster has an associated {other!r} image: '
                    'the cross-modal association found nothing')
            for cluster in self._clusters(rng, paired, half):
                own_part = self._take(rng, paired[cluster])
                other_part = self._take(rng, joined[cluster])
                if own == self.modalities[0]:
                    first.append(own_part)
                    second.append(other_part)
                else:
                    first.append(other_part)
                    second.append(own_part)
        return np.concatenate(first + second)


def _members(labels: np.ndarray, mask: np.ndarray) -> dict:
    """``{label: indices}`` of the masked, non-outlier samples."""
    indices = np.flatnonzero(mask & (labels >= 0))
    if not len(indices):
        return {}
    order = np.argsort(labels[indices], kind='stable')
    indices = indices[order]
    uniq, starts = np.unique(labels[indices], return_index=True)
    return dict(zip(uniq.tolist(), np.split(indices, starts[1:])))
