"""Test-time CMFP over many gallery trials with shared work done once.

SYSU-MM01's protocol ranks the same queries against 10 re-sampled galleries.
:class:`CMFPTrials` computes, once, the query x gallery-union similarities,
the query-query top-k block and its products, so that each trial of plain
ranking or test-time CMFP (:func:`~.cmfp.cross_modality_propagation`, SALCR
Eq. 28-29) needs only gathers and sparse products of order
``Nq * trial size * k``, and gives the same distances (to float rounding).
"""
from typing import Iterator, Optional, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor

from .cmfp import _block_weights, _sparse_rows


def _gram(rows: Tensor, cols: Tensor, chunk_size: int) -> Tensor:
    """``rows @ cols.T``, ``chunk_size`` rows per product.

    The same products :func:`topk_similarity` computes, so top-k lists
    taken from the result are those of :func:`cross_modality_propagation`.
    """
    out = rows.new_empty(rows.size(0), cols.size(0))
    cols_t = cols.t()
    for start in range(0, rows.size(0), chunk_size):
        end = min(start + chunk_size, rows.size(0))
        torch.mm(rows[start:end], cols_t, out=out[start:end])
    return out


class CMFPTrials:
    """Query-gallery distances of many trials, plain and with test-time CMFP.

    SYSU-MM01 ranks one query set against 10 galleries drawn from one pool.
    :func:`cross_modality_propagation` + ``-q @ g.T`` per trial would redo
    two ``Nq x Ng x D`` products and the propagation of all ``Nq`` query
    rows (``A F_q`` included, the same in every trial). Here the query x
    pool similarities ``S_qU`` (``U``: the union of the trials' galleries)
    are computed once, and with ``k`` also ``S_qq`` (its top-k lists give
    the query block ``A``) and ``M = A S_qq`` (the similarities of
    ``P = A F_q`` to the queries). With a trial's gallery ``G`` and blocks
    ``B`` (q-g), ``C`` (g-q) and ``E`` (g-g)::

        new_a = P + B F_G              new_b = C F_q + E F_G
        H = new_b F_G^T = C S_qG + E S_GG                      (Ng x Ng)
        new_a new_b^T = M C^T + (A S_qG) E^T + B H^T           (Nq x Ng)

    and the squared norms of ``new_a`` / ``new_b`` are weighted sums of
    entries of these matrices (plus ``|C F_q|^2``). A trial thus costs
    sparse products of order ``Nq * Ng * k`` and ``Ng * k * D``, one
    ``Nq x Ng x Ng`` product and the ``Ng x Ng x D`` product ``S_GG``
    (whose top-k lists are the g-g block); no ``Nq x Ng x D`` product.
    Distances equal the per-trial path's up to float rounding (~1e-6); the
    top-k lists are taken from the same similarity values wherever the
    BLAS computes a column subset of a product as the full product does
    (it does on MKL).

    Memory, besides normalised copies of the features: ``S_qU`` (Nq x Nu
    floats); with ``k`` also ``M`` (Nq x Nq; and ``S_qq`` while it is
    built). SYSU-MM01 (3 803 queries, ~2 400 distinct gallery images over
    10 trials): ~95 MB, ~155 MB at the peak.

    Args:
        q_feats (Tensor): Query features, shape (Nq, D); L2-normalised here.
        g_feats (Tensor): Gallery pool features, shape (Ng_pool, D);
            L2-normalised here. Only rows used by some trial are kept.
        trials (Sequence): Per trial, the indices of its gallery rows in
            ``g_feats`` (lists, arrays or 1-D tensors; lengths may differ).
        k (int, optional): ``k_te`` of CMFP (see
            :func:`cross_modality_propagation`); None: plain distances only.
        chunk_size (int): Rows per similarity product, as in
            :func:`topk_similarity`. Defaults to 4096.
    """

    def __init__(self,
                 q_feats: Tensor,
                 g_feats: Tensor,
                 trials: Sequence,
                 k: Optional[int] = None,
                 chunk_size: int = 4096) -> None:
        if q_feats.dim() != 2 or g_feats.dim() != 2 or \
                q_feats.size(1) != g_feats.size(1):
            raise ValueError('q_feats and g_feats must be (N, D) with the '
                             f'same D, got {tuple(q_feats.shape)} and '
                             f'{tuple(g_feats.shape)}')
        if k is not None and k < 1:
            raise ValueError(f'k must be >= 1 or None, got {k}')
        q_feats = F.normalize(q_feats.float(), dim=1)
        device = q_feats.device
        trials = [
            torch.as_tensor(t, dtype=torch.long, device=device).reshape(-1)
            for t in trials
        ]
        if not trials:
            raise ValueError('at least one trial is needed')
        union, positions = torch.unique(torch.cat(trials), return_inverse=True)
        self._trials = positions.split([len(t) for t in trials])
        self._u = F.normalize(
            g_feats[union.to(g_feats.device)].float().to(device), dim=1)
        self.k, self.chunk_size = k, chunk_size
        self._s_qu = _gram(q_feats, self._u, chunk_size)
        if k is None:
            return
        self._q = q_feats
        s_qq = _gram(q_feats, q_feats, chunk_size)
        values, indices = s_qq.topk(min(k, q_feats.size(0)), dim=1)
        weights = _block_weights(values)
        self._a = _sparse_rows(weights, indices, q_feats.size(0)).coalesce()
        # M^T: row x holds f_q[x] . P_i for all i (column x of M = A S_qq)
        self._m_t = torch.sparse.mm(self._a, s_qq).t().contiguous()
        del s_qq
        # |P_i|^2 = sum_n w[i, n] (P_i . f_q[indices[i, n]])
        rows = torch.arange(q_feats.size(0), device=device)[:, None]
        self._p_sq = (weights * self._m_t[indices, rows]).sum(1)

    def __len__(self) -> int:
        return len(self._trials)

    def plain(self, trial: int) -> Tensor:
        """Distances ``-q @ g.T`` of one trial, shape (Nq, Ng)."""
        return self._s_qu.index_select(1, self._trials[trial]).neg_()

    def cmfp(self, trial: int) -> Tensor:
        """Distances ``-q' @ g'.T`` after CMFP of one trial, (Nq, Ng)."""
        if self.k is None:
            raise ValueError('CMFPTrials was built without k')
        gallery = self._trials[trial]
        k, num_q, num_g = self.k, self._q.size(0), gallery.numel()
        s_qg = self._s_qu.index_select(1, gallery)
        f_g = self._u[gallery]
        s_gg = _gram(f_g, f_g, self.chunk_size)
        # the top-k calls of cross_modality_propagation
        v_ab, i_ab = s_qg.topk(min(k, num_g), dim=1)
        v_ba, i_ba = s_qg.t().topk(min(k, num_q), dim=1)
        v_bb, i_bb = s_gg.topk(min(k, num_g), dim=1)
        w_ab, w_ba, w_bb = map(_block_weights, (v_ab, v_ba, v_bb))
        block_ba = _sparse_rows(w_ba, i_ba, num_q)
        block_bb = _sparse_rows(w_bb, i_bb, num_g)
        h_q = torch.sparse.mm(block_ba, s_qg)  # (C F_q) F_G^T
        h_g = torch.sparse.mm(block_bb, s_gg)  # (E F_G) F_G^T
        h = h_q + h_g
        p_g = torch.sparse.mm(self._a, s_qg)  # P F_G^T
        # [B H^T | B S_GG]: (B F_G) new_b^T and (B F_G) F_G^T
        b_g = torch.sparse.mm(
            _sparse_rows(w_ab, i_ab, num_g), torch.cat([h.t(), s_gg], dim=1))
        # new_a new_b^T = (C M^T + E (P F_G^T)^T)^T + B H^T; the E term
        # as a dense product for small galleries (faster per multiply-add)
        dot = torch.sparse.mm(block_ba, self._m_t)
        if num_g <= 32 * k:
            dense_bb = s_gg.new_zeros(num_g, num_g).scatter_(1, i_bb, w_bb)
            dot = torch.addmm(b_g[:, :num_g], p_g, dense_bb.t()).add_(dot.t())
        else:
            dot += torch.sparse.mm(block_bb, p_g.t().contiguous())
            dot = dot.t().add(b_g[:, :num_g]).contiguous()
        # |new_a|^2 = |P|^2 + 2 P . (B F_G) + |B F_G|^2
        terms = 2 * p_g.gather(1, i_ab) + b_g[:, num_g:].gather(1, i_ab)
        sq_a = self._p_sq + (w_ab * terms).sum(1)
        # |new_b|^2 = |C F_q|^2 + 2 (C F_q) . (E F_G) + |E F_G|^2; C F_q is
        # only Ng x D (cheaper than gathering S_qq at Ng * k * k places)
        terms = 2 * h_q.gather(1, i_bb) + h_g.gather(1, i_bb)
        sq_b = torch.sparse.mm(block_ba, self._q).pow_(2).sum(1) + \
            (w_bb * terms).sum(1)
        norm_a = sq_a.clamp(min=0).sqrt().clamp(min=1e-12)
        norm_b = sq_b.clamp(min=0).sqrt().clamp(min=1e-12)
        return dot.div_(torch.outer(norm_a, -norm_b))


def cmfp_distance_trials(q_feats: Tensor,
                         g_feats: Tensor,
                         trials: Sequence,
                         k: int,
                         chunk_size: int = 4096) -> Iterator[Tensor]:
    """Per-trial CMFP distance matrices, the shared parts computed once.

    Equal (up to float rounding) to ``-q' @ g'.T`` with ``q', g' =
    cross_modality_propagation(q_feats, g_feats[trial], k)`` for every
    trial; see :class:`CMFPTrials`.

    Args:
        q_feats (Tensor): Query features, shape (Nq, D).
        g_feats (Tensor): Gallery pool features, shape (Ng_pool, D).
        trials (Sequence): Per trial, indices of its gallery in ``g_feats``.
        k (int): ``k_te`` of CMFP.
        chunk_size (int): Rows per similarity product. Defaults to 4096.

    Yields:
        Tensor: Distances (smaller is closer) of one trial, (Nq, Ng_trial).
    """
    distances = CMFPTrials(q_feats, g_feats, trials, k, chunk_size)
    for trial in range(len(distances)):
        yield distances.cmfp(trial)
