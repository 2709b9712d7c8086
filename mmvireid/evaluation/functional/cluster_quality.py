"""Diagnostics of pseudo-labels against true identities."""
from typing import Dict

import numpy as np
from sklearn.metrics import normalized_mutual_info_score


def cluster_quality(labels: np.ndarray,
                    true_ids: np.ndarray) -> Dict[str, float]:
    """How well clusters match true identities (outliers excluded).

    Args:
        labels (np.ndarray): Cluster per sample, ``-1`` for outliers.
        true_ids (np.ndarray): True identity per sample.

    Returns:
        dict: ``num_clusters``, ``num_outliers``, ``purity`` (fraction of
        clustered samples whose identity is their cluster's majority
        identity), ``nmi`` (normalised mutual information of clustered
        samples) and ``num_ids`` (true identities among them).
    """
    labels = np.asarray(labels)
    true_ids = np.asarray(true_ids)
    if labels.shape != true_ids.shape:
        raise ValueError(f'labels {labels.shape} and true_ids '
                         f'{true_ids.shape} differ in shape')
    kept = labels >= 0
    stats = dict(
        num_clusters=int(len(np.unique(labels[kept]))),
        num_outliers=int((~kept).sum()),
        num_ids=int(len(np.unique(true_ids))),
        purity=0.0,
        nmi=0.0)
    if not kept.any():
        return stats
    _, cluster = np.unique(labels[kept], return_inverse=True)
    _, identity = np.unique(true_ids[kept], return_inverse=True)
    counts = np.zeros((cluster.max() + 1, identity.max() + 1), dtype=np.int64)
    np.add.at(counts, (cluster, identity), 1)
    stats['purity'] = float(counts.max(1).sum() / kept.sum())
    stats['nmi'] = float(normalized_mutual_info_score(identity, cluster))
    return stats
