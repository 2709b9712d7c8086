"""Rows of a batch by modality position, and their cross-modal pairs.

Modalities are data: a head learns the declared modalities from the
pseudo-labels it receives (:class:`~mmvireid.structures.PseudoLabels`
``modalities``) and refers to each one by its *position* in that tuple,
never by name.
"""
from collections import defaultdict
from typing import List, Optional, Sequence, Tuple

import torch

from mmvireid.structures import VIReIDDataSample


def check_two_modalities(modalities: Optional[Sequence[str]],
                         owner: str) -> Tuple[str, str]:
    """The modalities of a two-modality head, validated.

    Args:
        modalities (Sequence[str], optional): Declared modalities, e.g.
            ``PseudoLabels.modalities``. The first is the one whose samples
            have the channel-augmented view-1 rows (``'visible'`` in
            practice), the second the other one.
        owner (str): Name of the head, for the error message.

    Returns:
        tuple[str, str]: ``modalities`` as a tuple.

    Raises:
        ValueError: ``modalities`` is None (the head has not received
            pseudo-labels yet) or does not hold exactly two distinct
            names.
    """
    if modalities is None:
        raise ValueError(
            f'{owner} has no pseudo-labels yet: the label pipeline (a '
            'ClusteringHook in custom_hooks) must hand them over '
            '(set_pseudo_labels) before the first training step')
    modalities = tuple(modalities)
    if len(modalities) != 2 or len(set(modalities)) != 2 or not all(
            isinstance(m, str) for m in modalities):
        raise ValueError(
            f'{owner} is a two-modality head: it needs exactly two '
            'modalities (the first one with the channel-augmented view-1 '
            f'rows), got {modalities}')
    return modalities


def modality_positions(data_samples: Sequence[VIReIDDataSample],
                       modalities: Sequence[str],
                       owner: str = 'modality_positions') -> List[int]:
    """Position in ``modalities`` of each row's ``modality``.

    Args:
        data_samples (Sequence[VIReIDDataSample]): One per batch row, with
            metainfo ``modality`` (a name).
        modalities (Sequence[str]): The declared modalities.
        owner (str): Name of the caller, for the error message.

    Returns:
        list[int]: ``modalities.index(sample.modality)`` of every row.

    Raises:
        ValueError: A row has no ``modality`` or one not in
            ``modalities``.
    """
    index = {name: i for i, name in enumerate(modalities)}
    positions = []
    for row, sample in enumerate(data_samples):
        if 'modality' not in sample:
            raise ValueError(f'{owner}: row {row} has no \'modality\' '
                             'metainfo')
        if sample.modality not in index:
            raise ValueError(f'{owner}: row {row} has modality '
                             f'{sample.modality!r}; expected one of '
                             f'{tuple(modalities)}')
        positions.append(index[sample.modality])
    return positions


def pair_rows(data_samples: Sequence[VIReIDDataSample],
              modalities: Sequence[str]) -> torch.Tensor:
    """Rows of the (first, channel-augmented, second modality) pairs.

    ``modalities`` names the two modalities (a head passes the
    ``modalities`` of its pseudo-labels): the first one is the modality
    whose samples have a channel-augmented view 1 (``'visible'`` in
    practice), the second the other one (``'infrared'``).

    In a batch of :class:`~mmvireid.datasets.CrossModalClusterSampler`
    with ``mode='paired'``, position ``j`` of the first modality's half and
    position ``j`` of the second's share a pseudo-identity. After
    :class:`~mmvireid.models.VIReIDDataPreprocessor` the rows are view 0 of
    every sample in batch order, then view 1 of the samples that have one
    (metainfo ``view``; a sample without it is view 0).

    The ``i``-th view-0 row of the first modality (in row order) is paired
    with the ``i``-th view-0 row of the second and with the view-1 row
    (channel-augmented view) of the same first-modality sample. Views are
    matched by ``sample_idx`` and, when a sample is drawn twice (clusters
    smaller than the number of instances are sampled with replacement), by
    occurrence: the ``n``-th view-1 row of a sample belongs to its ``n``-th
    view-0 row, the order in which the preprocessor writes them. Rows of
    the second modality of other views and first-modality views beyond 1
    are ignored.

    If the two counts differ, the first ``min(n_first, n_second)`` of each
    are paired and the rest are left out.

    Args:
        data_samples (Sequence[VIReIDDataSample]): One per batch row, with
            metainfo ``sample_idx``, ``modality`` and optionally ``view``.
        modalities (Sequence[str]): The two modality names, the one with
            view-1 rows first.

    Returns:
        Tensor: ``(M, 3)`` long tensor: the first modality's plain row, its
        channel-augmented row (``-1`` where the sample has no view 1) and
        the second modality's row of each pair.

    Raises:
        ValueError: ``modalities`` is not two names, a sample lacks
            ``sample_idx`` / ``modality``, has a modality not in
            ``modalities`` or a negative view, or a view-1 row has no
            view-0 row of the same sample.
    """
    first, second = check_two_modalities(modalities, 'pair_rows')
    plain: List[int] = []
    other: List[int] = []
    augmented = defaultdict(list)
    for row, sample in enumerate(data_samples):
        for key in ('sample_idx', 'modality'):
            if key not in sample:
                raise ValueError(f'pair_rows: row {row} has no {key!r} '
                                 'metainfo')
        view = int(sample.metainfo.get('view', 0))
        if view < 0:
            raise ValueError(f'pair_rows: row {row} has view {view} < 0')
        if sample.modality == first:
            if view == 0:
                plain.append(row)
            elif view == 1:
                augmented[int(sample.sample_idx)].append(row)
        elif sample.modality == second:
            if view == 0:
                other.append(row)
        else:
            raise ValueError(f'pair_rows: row {row} has modality '
                             f'{sample.modality!r}; expected {first!r} or '
                             f'{second!r}')
    # view-1 rows of each sample, consumed in order by its view-0 rows
    taken = defaultdict(int)
    ca_rows = []
    for row in plain:
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
    num = min(len(plain), len(other))
    if not num:
        return torch.zeros(0, 3, dtype=torch.long)
    return torch.tensor(
        list(zip(plain[:num], ca_rows[:num], other[:num])), dtype=torch.long)
