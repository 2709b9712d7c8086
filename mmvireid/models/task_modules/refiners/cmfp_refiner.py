"""Train-time cross-modality feature propagation (CMFP(tr)) refinement."""
from typing import Tuple

import torch

from mmvireid.evaluation.functional import cross_modality_propagation
from mmvireid.registry import TASK_UTILS
from mmvireid.structures import PseudoLabels
from ...utils import cluster_centroids, reassign_to_centroids
from .base_refiner import BaseRefiner


@TASK_UTILS.register_module()
class CMFPRefiner(BaseRefiner):
    """SALCR's train-time CMFP (https://arxiv.org/abs/2504.19244).

    The features of the two modalities are propagated once over their
    cross-modality k-NN graph
    (:func:`~mmvireid.evaluation.functional.cross_modality_propagation`,
    ``k = k_tr``); then every non-outlier instance is re-assigned to the
    nearest (cosine) centroid of its modality's clusters, the centroids
    being those of the propagated features (as SALCR's reference does).
    Outliers stay outliers. Returns the propagated ``features`` (for the
    associator and the centroids) and the re-assigned ``labels``. Nothing
    changes when a modality has no sample.

    Args:
        k (int): Neighbours per row of each similarity block (``k_tr``).

    Raises:
        ValueError: ``k`` < 1.
    """

    def __init__(self, k: int) -> None:
        if not isinstance(k, int) or k < 1:
            raise ValueError(f'CMFPRefiner: k must be an int >= 1, got {k!r}')
        self.k = k

    def check(self, modalities: Tuple[str, ...]) -> None:
        """Propagation runs between exactly two modalities."""
        if len(modalities) != 2:
            raise ValueError('CMFPRefiner (cross-modality propagation) needs '
                             'exactly two modalities, the dataset declares '
                             f'{tuple(modalities)}')

    def __call__(self, pl: PseudoLabels) -> PseudoLabels:
        """Propagated features and re-assigned labels (see the class)."""
        self.check(pl.modalities)
        if pl.features is None:
            raise ValueError('CMFPRefiner: the pseudo-labels carry no '
                             'features to propagate')
        index = {m: pl.indices(m) for m in pl.modalities}
        if not all(len(i) for i in index.values()):
            return pl
        first, second = pl.modalities
        feats = dict(
            zip((first, second),
                cross_modality_propagation(
                    pl.features[index[first]],
                    pl.features[index[second]],
                    k=self.k)))
        labels = pl.labels.clone()
        features = torch.empty(pl.features.shape, dtype=feats[first].dtype)
        for modality in pl.modalities:
            features[index[modality]] = feats[modality]
            own = labels[index[modality]]
            kept = own >= 0
            if kept.any():
                own[kept] = reassign_to_centroids(
                    feats[modality][kept],
                    cluster_centroids(feats[modality], own))
                labels[index[modality]] = own
        return pl.with_fields(features=features, labels=labels)
