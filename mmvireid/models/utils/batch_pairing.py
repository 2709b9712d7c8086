"""Cross-modal pairs of the rows of a paired-mode batch."""
from collections import defaultdict
from typing import List, Sequence

import torch

from mmvireid.structures import VIReIDDataSample


def pair_rows(data_samples: Sequence[VIReIDDataSample]) -> torch.Tensor:
    """Rows of the (visible, channel-augmented, infrared) pairs of a batch.

    In a batch of :class:`~mmvireid.datasets.CrossModalClusterSampler`
    with ``mode='paired'``, position ``j`` of the visible half and
    position ``j`` of the infrared half share a pseudo-identity. After
    :class:`~mmvireid.models.VIReIDDataPreprocessor` the rows are view 0 of
    every sample in batch order, then view 1 of the samples that have one
    (metainfo ``view``; a sample without it is view 0).

    The ``i``-th visible view-0 row (in row order) is paired with the
    ``i``-th infrared view-0 row and with the view-1 row (channel-augmented
    view) of the same visible sample. Views are matched by ``sample_idx``
    and, when a sample is drawn twice (clusters smaller than the number of
    instances are sampled with replacement), by occurrence: the ``n``-th
    view-1 row of a sample belongs to its ``n``-th view-0 row, the order in
    which the preprocessor writes them. Infrared rows of other views and
    visible views beyond 1 are ignored.

    If the visible and infrared counts differ, the first
    ``min(n_visible, n_infrared)`` of each are paired and the rest are left
    out.

    Args:
        data_samples (Sequence[VIReIDDataSample]): One per batch row, with
            metainfo ``sample_idx``, ``modality`` and optionally ``view``.

    Returns:
        Tensor: ``(M, 3)`` long tensor: visible plain row, its
        channel-augmented row (``-1`` where the sample has no view 1) and
        infrared row of each pair.

    Raises:
        ValueError: A sample lacks ``sample_idx`` / ``modality``, has an
            unknown modality or a negative view, or a visible view-1 row
            has no view-0 row of the same sample.
    """
    visible: List[int] = []
    infrared: List[int] = []
    augmented = defaultdict(list)
    for row, sample in enumerate(data_samples):
        for key in ('sample_idx', 'modality'):
            if key not in sample:
                raise ValueError(f'pair_rows: row {row} has no {key!r} '
                                 'metainfo')
        view = int(sample.metainfo.get('view', 0))
        if view < 0:
            raise ValueError(f'pair_rows: row {row} has view {view} < 0')
        if sample.modality == 'visible':
            if view == 0:
                visible.append(row)
            elif view == 1:
                augmented[int(sample.sample_idx)].append(row)
        elif sample.modality == 'infrared':
            if view == 0:
                infrared.append(row)
        else:
            raise ValueError(f'pair_rows: row {row} has modality '
                             f'{sample.modality!r}; expected visible or '
                             'infrared')
    # view-1 rows of each sample, consumed in order by its view-0 rows
    taken = defaultdict(int)
    ca_rows = []
    for row in visible:
        idx = int(data_samples[row].sample_idx)
        views = augmented.get(idx, [])
        n = taken[idx]
        ca_rows.append(views[n] if n < len(views) else -1)
        taken[idx] = n + 1
    for idx, views in augmented.items():
        if len(views) > taken[idx]:
            raise ValueError(
                f'pair_rows: {len(views)} channel-augmented (view 1) row(s) '
                f'of sample {idx} but {taken[idx]} plain (view 0) row(s)')
    num = min(len(visible), len(infrared))
    if not num:
        return torch.zeros(0, 3, dtype=torch.long)
    return torch.tensor(
        list(zip(visible[:num], ca_rows[:num], infrared[:num])),
        dtype=torch.long)
