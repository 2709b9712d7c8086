"""The contract of every memory bank: reset, DDP-correct update, logits."""
from abc import abstractmethod
from typing import Optional

import torch
from mmengine.model import BaseModule

from mmengine.dist import get_world_size

from mmvireid.utils.dist_utils import all_gather_rows
from ..utils.resizable_buffers import ResizableBuffersMixin


class BaseMemory(ResizableBuffersMixin, BaseModule):
    """A bank of entries (clusters, parts, images) that heads contrast with.

    What a memory receives, and when:

    - :meth:`reset` — from the head's ``set_pseudo_labels`` when new
      pseudo-labels arrive (once per clustering epoch), with the epoch's
      extracted features; the bank's size then follows the labels. Every
      rank receives the same labels and features, so every rank's bank is
      the same afterwards.
    - :meth:`update` — once per training step per use, with the batch's
      (detached) features and their labels. In a distributed run the rows
      of all ranks are gathered first (:func:`~mmvireid.utils.dist_utils.
      all_gather_rows`) and every rank applies the same update to the
      concatenated rows, in rank order: ``N`` processes end with the bank
      one process would have after updating with the concatenated batches.
      ``update`` is therefore a collective call: a head must call it on
      every rank at the same points of the step, with zero rows if its
      batch has none for this memory.
    - :meth:`logits` — the batch's similarities to the bank, which a loss
      of :mod:`mmvireid.models.losses` scores (the memory computes no
      loss itself); :attr:`num_entries` tells the loss which labels are
      entries.

    The bank's buffers are listed in ``resizable_buffers``: they load from
    checkpoints of any size and DDP does not broadcast them (see
    :mod:`mmvireid.utils.dist_utils`).

    Labels may stay on the host (those of the data samples do): in a
    single-process run they are not moved to the device, so an update rule
    can select rows without a device synchronisation; a distributed run
    gathers them on the features' device.

    Subclasses implement :meth:`reset`, :meth:`apply_update` (the local
    update rule, given already gathered rows), :meth:`logits` and
    :attr:`num_entries`.
    """

    @property
    @abstractmethod
    def num_entries(self) -> int:
        """Entries of the bank (valid labels are ``0..num_entries-1``)."""

    @abstractmethod
    def reset(self, *args, **kwargs) -> None:
        """Fill the bank from the epoch's features and pseudo-labels."""

    @abstractmethod
    def apply_update(self,
                     features: torch.Tensor,
                     labels: torch.Tensor,
                     extra: Optional[torch.Tensor] = None) -> None:
        """Update the bank with the rows of every rank (already gathered).

        Args:
            features (Tensor): ``(B, ...)`` detached features.
            labels (Tensor): ``(B,)`` entries to update (cluster labels,
                dataset indices...).
            extra (Tensor, optional): ``(B, ...)`` a second per-row tensor
                of the subclass (e.g. part features of an image).
        """

    @abstractmethod
    def logits(self, features: torch.Tensor) -> torch.Tensor:
        """Similarities of ``features`` to the bank's entries."""

    @torch.no_grad()
    def update(self,
               features: torch.Tensor,
               labels: torch.Tensor,
               extra: Optional[torch.Tensor] = None) -> None:
        """Gather the rows of every rank and apply the update rule.

        A collective call in distributed runs (see the class docstring).

        Args:
            features (Tensor): ``(B, ...)`` features of this rank's rows.
            labels (Tensor): ``(B,)`` their entries.
            extra (Tensor, optional): A second per-row tensor, gathered the
                same way.
        """
        features = features.detach()
        labels = torch.as_tensor(labels).long()
        if get_world_size() == 1:
            self.apply_update(features, labels, extra)
            return
        labels = labels.to(features.device)
        if extra is None:
            features, labels = all_gather_rows(features, labels)
        else:
            features, labels, extra = all_gather_rows(
                features, labels,
                extra.detach().to(features.device))
        self.apply_update(features, labels, extra)
