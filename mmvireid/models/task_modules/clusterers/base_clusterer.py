"""The contract of a clusterer (the first label-pipeline component)."""
from abc import ABCMeta, abstractmethod
from typing import Tuple

from mmvireid.structures import PseudoLabels


class BaseClusterer(metaclass=ABCMeta):
    """Cluster each declared modality of a training set.

    Registered in ``TASK_UTILS`` and selected in a config with
    ``ClusteringHook(clusterer=dict(type=...))``. At every scheduled epoch
    the hook extracts the features of the training set, calls the
    clusterer on rank 0 and broadcasts its labels.

    An implementation fills ``labels`` of every sample from
    ``pl.features`` (or, for a diagnostic clusterer, ``pl.pids``), in a
    separate label space ``0..K_m-1`` per declared modality, ``-1`` for
    outliers, and leaves the other fields as they are. It must not change
    ``pl`` in place.
    """

    def check(self, modalities: Tuple[str, ...]) -> None:
        """Check the settings against the dataset's declared modalities.

        Called by the hook in ``before_train``, before the first feature
        extraction. Raises ``ValueError`` for a mismatch; the base accepts
        any modalities.
        """

    def describe(self, modality: str) -> str:
        """The settings of ``modality`` that decide its outliers, for the
        hook's warning when a modality gets no cluster (e.g.
        ``'eps=0.5, min_samples=4'``); empty by default."""
        return ''

    @abstractmethod
    def __call__(self, pl: PseudoLabels) -> PseudoLabels:
        """``pl`` with ``labels`` filled per declared modality.

        Args:
            pl (PseudoLabels): The training set's ``modalities``,
                ``modality_ids``, ``features`` (L2-normalised) and true
                ``pids`` (diagnostics); ``labels`` are placeholders.

        Returns:
            PseudoLabels: A copy of ``pl`` with the new ``labels``.
        """
