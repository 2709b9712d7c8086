"""DBSCAN on the k-reciprocal Jaccard distance, per modality."""
from typing import Dict, Mapping, Optional, Tuple, Union

import numpy as np
import torch
import torch.nn.functional as F

from mmvireid.registry import TASK_UTILS
from mmvireid.structures import PseudoLabels
from mmvireid.utils.knn import check_knn_cfg
from ...utils import cluster_dbscan
from .base_clusterer import BaseClusterer

#: why a setting as large as a modality's image count is refused
_TOO_LARGE = dict(
    k1='the k-reciprocal neighbourhood of every image would be the whole '
    'modality, so all its images end in one cluster and its contrastive '
    'loss is exactly 0',
    k2='the query expansion would average every image over the whole '
    'modality: one cluster, a contrastive loss of exactly 0',
    min_samples='a DBSCAN core point needs min_samples images within eps, '
    'so the modality gets one cluster at most (none above the count)')


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

    Before training, :meth:`check_sizes` refuses a modality of fewer than
    2 images and a ``k1`` or ``min_samples`` (or an effective ``k2``) as
    large as a modality's image count: those can only give that modality
    one cluster or none (issue #10: ``k1=1000`` gave one cluster per
    modality and losses of exactly 0).

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

    def check_sizes(self,
                    counts: Mapping[str, int],
                    key: str = 'clusterer') -> None:
        """Each modality has 2 images or more, and more than ``k1``,
        ``min_samples`` and the query expansion's effective ``k2``.

        ``k2`` is capped by the length of the ranking (``k1``, or
        ``knn_cfg.num_neighbours``), so a ``k2`` above the count is only
        refused when that length reaches the count too.

        Args:
            counts (Mapping[str, int]): Images of each declared modality.
            key (str): Config key of the clusterer, for the messages.

        Raises:
            ValueError: Naming the modality, its image count and the
                setting (``<key>.k1`` ...) with its value.
        """
        ranking = self.knn_cfg.get('num_neighbours') or self.k1
        settings = (('k1', self.k1, self.k1), ('min_samples', self.min_samples,
                                               self.min_samples),
                    ('k2', self.k2, min(self.k2, ranking)))
        # the smallest modality first: the one that limits the settings
        for modality, count in sorted(counts.items(), key=lambda mc: mc[1]):
            if count < 2:
                raise ValueError(
                    f'the training set has {count} {modality!r} image'
                    f'{"" if count == 1 else "s"}: JaccardDBSCAN clusters '
                    'each modality on its own and needs at least 2 images '
                    f'of each; the {modality!r} part of the dataset is '
                    'empty or nearly so (check the dataset and its '
                    'data_root; eps / min_samples are not the cause)')
            for name, value, effective in settings:
                if effective >= count:
                    raise ValueError(
                        f'{key}.{name}={value} but the training set has '
                        f'only {count} {modality!r} images: '
                        f'{_TOO_LARGE[name]}; set {key}.{name} below '
                        f'{count}, or check the dataset (data_root) if '
                        f'{modality!r} should have more images')

    def describe(self, modality: str) -> str:
        """``'eps=..., min_samples=..., k1=...'`` of ``modality``."""
        return (f'eps={self.eps_of(modality)}, min_samples='
                f'{self.min_samples}, k1={self.k1}')

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
