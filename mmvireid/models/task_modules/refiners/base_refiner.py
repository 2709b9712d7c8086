"""The contract of a label refiner (a label-pipeline component)."""
from abc import ABCMeta, abstractmethod
from typing import Tuple

from mmvireid.structures import PseudoLabels


class BaseRefiner(metaclass=ABCMeta):
    """Refine the clusters between clustering and association.

    Registered in ``TASK_UTILS`` and selected in a config with
    ``AssociationHook(refiners=dict(<name>=dict(type=...)))``; the hook runs
    its refiners in key order on rank 0, each on the previous one's output,
    then the associator.

    A refiner may change ``labels`` (keeping each modality's label space
    and ``-1`` for outliers), ``weights``, and ``features``. Refined
    ``features`` are what later refiners, the associator and the
    ``centroids`` the hook hands on are computed from; the consumers
    (heads, sampler) still receive the clustering's extracted features in
    ``PseudoLabels.features``. A refiner must not change ``pl`` in place.
    """

    def check(self, modalities: Tuple[str, ...]) -> None:
        """Check the settings against the dataset's declared modalities.

        Called by the hook in ``before_train``. Raises ``ValueError`` for a
        mismatch; the base accepts any modalities.
        """

    @abstractmethod
    def __call__(self, pl: PseudoLabels) -> PseudoLabels:
        """The refined copy of ``pl``.

        Args:
            pl (PseudoLabels): The clusters (``labels``, ``features``,
                ``modality_ids``) after clustering and earlier refiners.

        Returns:
            PseudoLabels: A copy with the refined fields.
        """
