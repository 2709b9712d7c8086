"""BASELINE: cross-modality feature propagation (CMFP) the dense way.

A re-implementation, for checking and timing only, of how the SALCR
reference (https://arxiv.org/abs/2504.19244, Eq. 28-29) propagates
features: each of the four cosine similarity blocks (a-a, a-b, b-a, b-b)
is computed densely and every row of it is sorted in full to find its
``k`` largest entries; the kept entries (negatives clamped to 0) are
row-normalised per block into a dense ``(Na + Nb) x (Na + Nb)`` affinity
``A``, and ``f' = normalise(A @ [F_a; F_b])`` is one dense matrix product.

At SYSU-MM01 training size (34 167 features) ``A`` takes 4.7 GB, the
largest block 2 GB and its sort another 6 GB, and the similarity and
propagation products cost ~10 TFLOP. mmvireid uses the sparse top-k
:func:`mmvireid.evaluation.functional.cross_modality_propagation`; do not
use this module for training or testing.
"""
from typing import Tuple

import torch
import torch.nn.functional as F
from torch import Tensor


def _dense_block(rows: Tensor, cols: Tensor, k: int) -> Tensor:
    """Dense row-normalised top-k block of the similarities rows x cols."""
    sim = rows @ cols.t()
    k = min(k, sim.size(1))
    # full-row sort, as the reference does, then keep the first k columns
    values, order = torch.sort(sim, dim=1, descending=True)
    values = values[:, :k].clamp(min=0)
    order = order[:, :k].clone()
    row_sum = values.sum(dim=1, keepdim=True)
    weights = torch.where(row_sum > 0, values / row_sum.clamp(min=1e-12),
                          torch.zeros_like(values))
    return sim.zero_().scatter_(1, order, weights)


def dense_cmfp(feats_a: Tensor, feats_b: Tensor,
               k: int) -> Tuple[Tensor, Tensor]:
    """Propagate once over the dense 2 x 2 block affinity, reference style.

    Args:
        feats_a (Tensor): (Na, D) features of the first set.
        feats_b (Tensor): (Nb, D) features of the second set.
        k (int): Entries kept per row in each block (self included in the
            intra blocks).

    Returns:
        Tuple[Tensor, Tensor]: Propagated, L2-normalised float32 features of
        shapes (Na, D) and (Nb, D).
    """
    num_a = feats_a.size(0)
    feats = F.normalize(torch.cat([feats_a, feats_b]).float(), dim=1)
    a, b = feats[:num_a], feats[num_a:]
    affinity = feats.new_zeros(len(feats), len(feats))
    affinity[:num_a, :num_a] = _dense_block(a, a, k)
    affinity[:num_a, num_a:] = _dense_block(a, b, k)
    affinity[num_a:, :num_a] = _dense_block(b, a, k)
    affinity[num_a:, num_a:] = _dense_block(b, b, k)
    new = F.normalize(affinity @ feats, dim=1)
    return new[:num_a], new[num_a:]
