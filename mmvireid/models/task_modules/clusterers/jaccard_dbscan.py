"""DBSCAN on the k-reciprocal Jaccard distance, per modality."""
from typing import Dict, Optional, Tuple, Union

import numpy as np
import torch
import torch.nn.functional as F

from mmvireid.registry import TASK_UTILS
from mmvireid.structures import PseudoLabels
from mmvireid.utils.knn import check_knn_cfg
from ...utils import cluster_dbscan
from .base_clusterer import BaseClusterer


@TASK_UTILS.register_module()
class JaccardDBSCAN(BaseClusterer):
    """Cluster-Contrast's pseudo-labels (https://arxiv.org/abs/2103.11568).

    Each declared modality is clustered on its own by DBSCAN over the
    sparse k-reciprocal Jaccard distance of its features
    (:func:`~mmvireid.models.utils.cluster_dbscan`).

    Args:
        eps (float | dict): DBSCAN radius (a Jaccard distance, in (0, 1)),
            or one per declared modality (``dict(<modality>=<eps>, ...)``,
            checked against the dataset's modalities by :meth:`check`).
        min_samples (int): DBSCAN ``min_samples`` (the point itself
            included). Defaults to 4.
        k1 (int): k-reciprocal neighbourhood size. Defaults to 30.
        k2 (int): Query-expansion size (1 disables it). Defaults to 6.
        knn_cfg (dict, optional): k-NN options of the Jaccard distance, any
            of :data:`mmvireid.utils.knn.KNN_OPTIONS`, e.g.
            ``dict(knn_backend='faiss', faiss_index='ivf')`` or
            ``dict(chunk_size=1024)`` (see
            :func:`~mmvireid.models.utils.k_reciprocal_jaccard`). Defaults
            to the exact torch search.
        centre_features (bool): Subtract each modality's mean feature (and
            re-normalise) before clustering; helps the near-collinear
            features of an untrained model. Defaults to False.

    Raises:
        ValueError: An eps outside (0, 1), ``min_samples``, ``k1`` or
            ``k2`` < 1, or a bad ``knn_cfg``.
        ImportError: ``knn_backend='faiss'`` without faiss.
    """

    def __init__(self,
                 eps: Union[float, Dict[str, float]],
                 min_samples: int = 4,
                 k1: int = 30,
                 k2: int = 6,
                 knn_cfg: Optional[dict] = None,
                 centre_features: bool = False) -> None:
        values = list(eps.values()) if isinstance(eps, dict) else [eps]
        if not values or not all(
                isinstance(v, (int, float)) and 0 < v < 1 for v in values):
            raise ValueError('JaccardDBSCAN: eps (a Jaccard distance) must '
                             'be in (0, 1), or a dict of such per modality, '
                             f'got {eps!r}')
        for name, value in (('min_samples', min_samples), ('k1', k1), ('k2',
                                                                       k2)):
            if not isinstance(value, int) or value < 1:
                raise ValueError(f'JaccardDBSCAN: {name} must be an int >= '
                                 f'1, got {value!r}')
        self.eps = dict(eps) if isinstance(eps, dict) else eps
        self.min_samples = min_samples
        self.k1 = k1
        self.k2 = k2
        self.knn_cfg = check_knn_cfg(knn_cfg)
        self.centre_features = centre_features

    def eps_of(self, modality: str) -> float:
        """DBSCAN radius of ``modality``."""
        return self.eps[modality] if isinstance(self.eps, dict) else self.eps

    def check(self, modalities: Tuple[str, ...]) -> None:
        """A per-modality ``eps`` must name exactly the declared
        modalities."""
        if isinstance(self.eps, dict) and set(self.eps) != set(modalities):
            raise ValueError(
                f'JaccardDBSCAN: eps gives {sorted(self.eps)} but the '
                f'dataset declares the modalities {tuple(modalities)}; give '
                'one eps per modality, or a single number')

    def describe(self, modality: str) -> str:
        """``'eps=..., min_samples=...'`` of ``modality``."""
        return f'eps={self.eps_of(modality)}, min_samples={self.min_samples}'

    def __call__(self, pl: PseudoLabels) -> PseudoLabels:
        """DBSCAN labels of each modality's features (see the class)."""
        if pl.features is None:
            raise ValueError('JaccardDBSCAN: the pseudo-labels carry no '
                             'features to cluster')
        labels = np.full(pl.num_samples, -1, dtype=np.int64)
        for modality in pl.modalities:
            index = pl.indices(modality)
            if not len(index):
                continue
            feats = pl.features[index]
            if self.centre_features:
                feats = F.normalize(feats - feats.mean(0, keepdim=True), dim=1)
            labels[index.numpy()] = cluster_dbscan(
                feats,
                eps=self.eps_of(modality),
                min_samples=self.min_samples,
                k1=self.k1,
                k2=self.k2,
                **self.knn_cfg)
        return pl.with_fields(labels=torch.from_numpy(labels))
