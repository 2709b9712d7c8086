"""The contract of a clusterer (the first label-pipeline component)."""
from abc import ABCMeta, abstractmethod
from typing import Mapping, Tuple

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

    def check_sizes(self,
                    counts: Mapping[str, int],
                    key: str = 'clusterer') -> None:
        """Check the settings against each modality's number of images.

        Called by the hook in ``before_train``, once the training set is
        built and before the first feature extraction (every declared
        modality has at least one image by then). Raises ``ValueError``
        naming ``key`` + the setting, its value, the modality and its image
        count when a setting can only give degenerate pseudo-labels (one
        cluster or none); the base accepts any sizes.

        Args:
            counts (Mapping[str, int]): Images of each declared modality
                in the training set.
            key (str): Config key of the clusterer, for the messages (e.g.
                ``'custom_hooks.clustering.clusterer'``).
        """

    def describe(self, modality: str) -> str:
        """The settings of ``modality`` that decide its clusters, for the
        hook's warnings when a modality gets no cluster or one (e.g.
        ``'eps=0.5, min_samples=4, k1=30'``); empty by default."""
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
