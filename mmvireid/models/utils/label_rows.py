"""Per-row labels of a batch: from the data samples, and their valid rows."""
from typing import Sequence

import torch

from mmvireid.structures import VIReIDDataSample


def sample_labels(data_samples: Sequence[VIReIDDataSample],
                  field: str = 'pseudo_label',
                  owner: str = 'sample_labels') -> torch.Tensor:
    """``(B,)`` int64 CPU tensor of each data sample's ``field``.

    The model writes ``pseudo_label`` (own cluster, ``-1`` for outliers)
    and ``cross_label`` (associated cluster of the other modality, ``-1``
    for none) into the training batch's data samples
    (:meth:`~mmvireid.models.ReIDer.loss`); heads read them here. The
    tensor stays on the CPU: masks and row selections computed from it
    need no device synchronisation.

    Args:
        data_samples (Sequence[VIReIDDataSample]): One per batch row.
        field (str): ``'pseudo_label'`` or ``'cross_label'``.
        owner (str): Name of the caller, for the error message.

    Raises:
        ValueError: A data sample has no ``field``; the message names the
            row.
    """
    values = []
    for row, sample in enumerate(data_samples):
        value = sample.get(field)
        if value is None:
            raise ValueError(
                f'{owner}: data sample {row} (sample_idx '
                f'{sample.metainfo.get("sample_idx")}) has no {field!r}: the '
                'model writes the pseudo-labels into the training batch '
                '(ReIDer.loss after set_pseudo_labels); a head called '
                'directly needs data samples that carry them')
        values.append(int(value))
    return torch.tensor(values, dtype=torch.long)


def write_labels(data_samples: Sequence[VIReIDDataSample],
                 labels: torch.Tensor,
                 cross_labels: torch.Tensor,
                 owner: str = 'write_labels') -> None:
    """Give each data sample its ``pseudo_label`` and ``cross_label``.

    Looked up by the sample's ``sample_idx`` in the ``(N,)`` tables of
    every dataset index (:meth:`~mmvireid.structures.PseudoLabels.
    label_table`); written as Python ints.

    Raises:
        ValueError: A sample's ``sample_idx`` is missing or not in
            ``0..N-1``; the message names the row.
    """
    index = []
    for row, sample in enumerate(data_samples):
        idx = sample.metainfo.get('sample_idx')
        if idx is None or not 0 <= int(idx) < len(labels):
            raise ValueError(
                f'{owner}: data sample {row} has sample_idx {idx!r}; the '
                f'pseudo-labels cover dataset indices 0..{len(labels) - 1}')
        index.append(int(idx))
    index = torch.tensor(index, dtype=torch.long)
    own = labels.cpu()[index].tolist()
    cross = cross_labels.cpu()[index].tolist()
    for sample, label, cross_label in zip(data_samples, own, cross):
        sample.set_field(label, 'pseudo_label')
        sample.set_field(cross_label, 'cross_label')


def valid_rows(labels: torch.Tensor, num_entries: int) -> torch.Tensor:
    """Rows whose label is an entry ``0..num_entries-1``, on ``labels``'
    device (the host for labels of data samples)."""
    labels = torch.as_tensor(labels)
    return torch.nonzero((labels >= 0) & (labels < num_entries)).flatten()
