"""The contract of a cross-modal associator (a label-pipeline component)."""
from abc import ABCMeta, abstractmethod
from dataclasses import dataclass
from typing import Optional, Tuple

import torch


@dataclass
class ClusterSet:
    """The clusters of one modality, as an associator receives them.

    Attributes:
        features (Tensor): ``(n, D)`` float features of the modality's
            instances (L2-normalised; possibly refined, e.g. propagated by
            train-time CMFP), in dataset order.
        labels (Tensor): ``(n,)`` int64 cluster of each instance, ``-1`` for
            outliers.
        centroids (Tensor): ``(K, D)`` L2-normalised centre of each cluster
            ``0..K-1``.
        pids (Tensor, optional): ``(n,)`` int64 true ids, where the training
            set keeps them: for diagnostic associators only (the supervised
            ceiling), never an unsupervised training signal.
    """

    features: torch.Tensor
    labels: torch.Tensor
    centroids: torch.Tensor
    pids: Optional[torch.Tensor] = None

    @property
    def num_clusters(self) -> int:
        """Number of clusters ``K``."""
        return self.centroids.size(0)


@dataclass
class Association:
    """What an associator returns for a (source, destination) pair.

    Attributes:
        cross_labels (Tensor): ``(n_src,)`` int64: the destination cluster
            each source instance joins, ``-1`` for none (outliers, or no
            destination cluster).
        plan (Tensor, optional): The soft assignment behind the hard labels,
            e.g. ``(n_kept, K_dst)`` OT plan of the non-outlier source
            instances (rows in dataset order) or ``(K_src, K_dst)`` for a
            cluster-level associator; None if the method has none.
    """

    cross_labels: torch.Tensor
    plan: Optional[torch.Tensor] = None


class BaseAssociator(metaclass=ABCMeta):
    """Associate the instances of one modality with another's clusters.

    Registered in ``TASK_UTILS`` and selected in a config with
    ``AssociationHook(associator=dict(type=...))``. The hook calls it on
    rank 0 once per ordered pair of modalities it associates (SALCR: both
    ways between visible and infrared), after clustering (and refinement),
    and broadcasts the result. An implementation must give every source
    outlier (label ``-1``) the cross label ``-1`` and must accept a side
    without clusters (``K = 0``: every cross label ``-1``).
    """

    def check(self, modalities: Tuple[str, ...]) -> None:
        """Check the settings against the dataset's declared modalities.

        Called by the hook in ``before_train``. Raises ``ValueError`` for a
        mismatch; the base accepts any modalities.
        """

    @abstractmethod
    def __call__(self, source: ClusterSet,
                 destination: ClusterSet) -> Association:
        """Cross labels of ``source``'s instances in ``destination``'s
        label space."""
