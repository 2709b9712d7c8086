"""Rows of a batch by modality position, and their cross-modal pairs.

Modalities are data: a head learns the declared modalities from the
pseudo-labels it receives (:class:`~mmvireid.structures.PseudoLabels`
``modalities``) and refers to each one by its *position* in that tuple,
never by name.
"""
from collections import defaultdict
from typing import Dict, List, Optional, Sequence, Tuple

import torch

from mmvireid.structures import VIReIDDataSample


def check_two_modalities(modalities: Optional[Sequence[str]],
                         owner: str) -> Tuple[str, str]:
    """The modalities of a two-modality head, validated.

    Args:
        modalities (Sequence[str], optional): Declared modalities, e.g.
            ``PseudoLabels.modalities``. The first is the one whose samples
            have the channel-augmented view-1 rows (the colour
            modality of a visible-infrared dataset), the second the other
            one.
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
    whose samples have a channel-augmented view 1 (the colour modality
    of a visible-infrared dataset), the second the other one. After
    :class:`~mmvireid.models.VIReIDDataPreprocessor` the rows are view 0 of
    every sample in batch order, then view 1 of the samples that have one
    (metainfo ``view``; a sample without it is view 0); every view of a
    sample carries the sample's metainfo.

    **By id** (when any row has metainfo ``pair_id``, as every row of a
    :class:`~mmvireid.datasets.CrossModalClusterSampler` batch has): pair
    ``p`` is the first modality's view-0 row with ``pair_id == p``, its
    view-1 row of the same ``pair_id`` (the channel-augmented view; ``-1``
    when there is none) and the second modality's view-0 row with that
    ``pair_id``, in increasing ``pair_id`` order. ``pair_id == -1`` (an
    ``'intra'`` batch) and rows without ``pair_id`` are in no pair, nor
    are pair ids present in one modality only; first-modality views beyond
    1 and second-modality views other than 0 are ignored. For a
    ``'paired'`` batch this gives the positional pairs below, samples drawn
    twice included (each draw has its own ``pair_id``).

    **By position** (no row has ``pair_id``: hand-made batches, data
    samples of older pipelines): the ``i``-th view-0 row of the first
    modality (in row order) is paired with the ``i``-th view-0 row of the
    second and with the view-1 row of the same first-modality sample,
    matched by ``sample_idx`` and, for a sample drawn twice, by
    occurrence: the ``n``-th view-1 row of a sample belongs to its ``n``-th
    view-0 row, the order in which the preprocessor writes them. If the
    two counts differ, the first ``min(n_first, n_second)`` of each are
    paired and the rest are left out.

    Args:
        data_samples (Sequence[VIReIDDataSample]): One per batch row, with
            metainfo ``sample_idx``, ``modality`` and optionally ``view``,
            ``pair_id`` and ``group_id``.
        modalities (Sequence[str]): The two modality names, the one with
            view-1 rows first.

    Returns:
        Tensor: ``(M, 3)`` long tensor: the first modality's plain row, its
        channel-augmented row (``-1`` where the sample has no view 1) and
        the second modality's row of each pair.

    Raises:
        ValueError: ``modalities`` is not two names, a row lacks
            ``sample_idx`` / ``modality``, has a modality not in
            ``modalities``, a negative view or a ``pair_id`` below -1, a
            view-1 row has no view-0 row of the same sample (by position)
            or ``pair_id`` (by id), or the ids are inconsistent: two rows of
            one modality and view with one ``pair_id``, a view-1 row of
            another ``sample_idx`` than its view-0 row, or the two members
            of a pair with different ``group_id``.
    """
    first, second = check_two_modalities(modalities, 'pair_rows')
    rows = []
    for row, sample in enumerate(data_samples):
        for key in ('sample_idx', 'modality'):
            if key not in sample:
                raise ValueError(f'pair_rows: row {row} has no {key!r} '
                                 'metainfo')
        view = int(sample.metainfo.get('view', 0))
        if view < 0:
            raise ValueError(f'pair_rows: row {row} has view {view} < 0')
        if sample.modality not in (first, second):
            raise ValueError(f'pair_rows: row {row} has modality '
                             f'{sample.modality!r}; expected {first!r} or '
                             f'{second!r}')
        rows.append((sample.modality == first, view))
    if any('pair_id' in sample for sample in data_samples):
        return _pairs_by_id(data_samples, rows, first, second)
    return _pairs_by_position(data_samples, rows)


def _pairs_by_id(data_samples: Sequence[VIReIDDataSample],
                 rows: List[Tuple[bool, int]], first: str,
                 second: str) -> torch.Tensor:
    """:func:`pair_rows` of rows carrying ``pair_id``."""
    # pair_id -> row: first modality's view 0, its view 1, second's view 0
    tables: Tuple[Dict[int, int], ...] = ({}, {}, {})
    for row, (is_first, view) in enumerate(rows):
        meta = data_samples[row].metainfo
        if 'pair_id' not in meta:
            continue
        pair = int(meta['pair_id'])
        if pair < -1:
            raise ValueError(f'pair_rows: row {row} has pair_id {pair} '
                             '(-1 for no pair, else >= 0)')
        if pair == -1 or view > int(is_first):
            continue
        column = view if is_first else 2
        table = tables[column]
        if pair in table:
            modality = first if is_first else second
            raise ValueError(
                f'pair_rows: rows {table[pair]} and {row} are both view-'
                f'{view} {modality!r} rows of pair_id {pair} (one row per '
                'modality and view of a pair)')
        table[pair] = row
    plain, augmented, other = tables
    for pair, row in augmented.items():
        if pair not in plain:
            raise ValueError(
                f'pair_rows: row {row} is a channel-augmented (view 1) '
                f'{first!r} row of pair_id {pair}, which has no plain '
                f'(view 0) {first!r} row')
        _same_meta(data_samples, plain[pair], row, 'sample_idx', pair)
    pairs = sorted(plain.keys() & other.keys())
    for pair in pairs:
        _same_meta(data_samples, plain[pair], other[pair], 'group_id', pair)
    if not pairs:
        return torch.zeros(0, 3, dtype=torch.long)
    return torch.tensor([[plain[p], augmented.get(p, -1), other[p]]
                         for p in pairs],
                        dtype=torch.long)


def _same_meta(data_samples: Sequence[VIReIDDataSample], row: int,
               partner: int, key: str, pair: int) -> None:
    """Raise unless two rows of ``pair`` agree on metainfo ``key`` (when
    both have it)."""
    a, b = data_samples[row].metainfo, data_samples[partner].metainfo
    if key in a and key in b and int(a[key]) != int(b[key]):
        raise ValueError(
            f'pair_rows: rows {row} and {partner} of pair_id {pair} have '
            f'{key} {int(a[key])} and {int(b[key])}; the members of a pair '
            f'share their {key}')


def _pairs_by_position(data_samples: Sequence[VIReIDDataSample],
                       rows: List[Tuple[bool, int]]) -> torch.Tensor:
    """:func:`pair_rows` of rows without ``pair_id``."""
    plain: List[int] = []
    other: List[int] = []
    augmented = defaultdict(list)
    for row, (is_first, view) in enumerate(rows):
        if is_first:
            if view == 0:
                plain.append(row)
            elif view == 1:
                augmented[int(data_samples[row].sample_idx)].append(row)
        elif view == 0:
            other.append(row)
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
