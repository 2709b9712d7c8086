"""The padded neighbour tables :class:`RegionalNeighbours` produces."""
from dataclasses import dataclass, field
from typing import Dict

import torch

from mmvireid.structures import PAIR_SEP


def compact_rows(candidates: torch.Tensor,
                 keep: torch.Tensor,
                 width: int = -1) -> torch.Tensor:
    """The kept entries of each row moved to its front, ``-1`` behind.

    Args:
        candidates (Tensor): ``(n, k)`` int64 entries.
        keep (Tensor): ``(n, k)`` bool, which entries stay.
        width (int): Output width; ``-1`` (default) for the largest number
            of kept entries in a row.

    Returns:
        Tensor: ``(n, width)`` int64, the kept entries of each row in their
        original order, padded with ``-1``.
    """
    counts = keep.sum(1)
    if width < 0:
        width = int(counts.max()) if counts.numel() else 0
    # a stable sort of "dropped" flags puts the kept entries first, in order
    order = torch.argsort((~keep).to(torch.uint8), dim=1, stable=True)
    out = candidates.gather(1, order)[:, :width]
    if out.size(1) < width:
        out = torch.cat(
            [out, out.new_full((len(out), width - out.size(1)), -1)], 1)
    slots = torch.arange(width, device=out.device)
    return out.masked_fill(slots >= counts[:, None], -1)


def merge_regions(table: torch.Tensor) -> torch.Tensor:
    """``(n, K')`` union over the regions of an ``(R, n, K)`` table.

    Entries are sorted by value (not by similarity), without duplicates,
    padded with ``-1`` at the end.
    """
    flat = table.permute(1, 0, 2).flatten(1)
    # padding sorts last; a repeat of the previous entry is dropped
    pad = torch.iinfo(flat.dtype).max
    flat = torch.sort(flat.masked_fill(flat < 0, pad), dim=1)[0]
    keep = flat != pad
    keep[:, 1:] &= flat[:, 1:] != flat[:, :-1]
    return compact_rows(flat, keep)


@dataclass
class NeighbourSets:
    """Regional neighbour sets of one epoch, as fixed-width tables.

    Attributes:
        indices (dict[str, Tensor]): modality → ``(n_m,)`` int64 dataset
            indices of its samples, sorted ascending: row ``i`` of every
            table whose source is that modality belongs to ``indices[m][i]``.
        neighbours (dict[str, Tensor]): ``'src->dst'`` (see
            :func:`~mmvireid.structures.pair_key`) → ``(R, n_src, K)``
            int64: for region ``r`` and source sample ``i``, the dataset
            indices of its neighbours among ``dst``'s samples, most similar
            first, padded with ``-1`` (``K`` is the largest set of the
            direction over its regions; 0 when every set is empty).
    """

    indices: Dict[str, torch.Tensor] = field(default_factory=dict)
    neighbours: Dict[str, torch.Tensor] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for key, table in self.neighbours.items():
            source = key.split(PAIR_SEP)[0]
            if source not in self.indices:
                raise ValueError(f'NeighbourSets: table {key!r} has no '
                                 f'indices for its source {source!r}')
            if table.dim() != 3 or table.size(1) != len(self.indices[source]):
                raise ValueError(f'NeighbourSets: table {key!r} of shape '
                                 f'{tuple(table.shape)}, expected (R, '
                                 f'{len(self.indices[source])}, K)')

    @property
    def num_regions(self) -> int:
        """Region spaces ``R`` of the tables (0 without a table)."""
        return next(iter(self.neighbours.values())).size(0) \
            if self.neighbours else 0

    def rows(self, modality: str,
             dataset_indices: torch.Tensor) -> torch.Tensor:
        """Table row of each dataset index of ``modality`` (``-1`` if it has
        none), any shape."""
        if modality not in self.indices:
            raise KeyError(f'NeighbourSets: no samples of modality '
                           f'{modality!r}; have {sorted(self.indices)}')
        known = self.indices[modality]
        dataset_indices = torch.as_tensor(
            dataset_indices, dtype=torch.long, device=known.device)
        if not len(known):
            return torch.full_like(dataset_indices, -1)
        pos = torch.searchsorted(known,
                                 dataset_indices).clamp_(max=len(known) - 1)
        return torch.where(known[pos] == dataset_indices, pos,
                           torch.full_like(pos, -1))

    def lookup(self, key: str, dataset_indices: torch.Tensor) -> torch.Tensor:
        """``(R, B, K)`` neighbour dataset indices of a batch's samples.

        Args:
            key (str): Direction ``'src->dst'``.
            dataset_indices (Tensor): ``(B,)`` dataset indices of source
                samples; one without a row gets only ``-1``.
        """
        if key not in self.neighbours:
            raise KeyError(f'NeighbourSets: no direction {key!r}; have '
                           f'{sorted(self.neighbours)}')
        table = self.neighbours[key]
        rows = self.rows(key.split(PAIR_SEP)[0], dataset_indices)
        out = table.index_select(1, rows.clamp(min=0))
        return out.masked_fill((rows < 0)[None, :, None], -1)

    def sizes(self, key: str) -> torch.Tensor:
        """``(R, n_src)`` int64 size of every neighbour set of ``key``."""
        return (self.neighbours[key] >= 0).sum(-1)

    def merged(self, key: str) -> torch.Tensor:
        """``(n_src, K')`` union of each sample's sets over the regions.

        For a loss on the concatenated feature. Entries are sorted by
        dataset index (not by similarity), without duplicates, padded with
        ``-1`` at the end.
        """
        return merge_regions(self.neighbours[key])
