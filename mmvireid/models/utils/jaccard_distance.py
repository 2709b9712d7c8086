"""k-reciprocal Jaccard distance built from sparse k-NN structures.

The distance of Zhong et al., "Re-ranking Person Re-identification with
k-reciprocal Encoding" (CVPR 2017, https://arxiv.org/abs/1701.08398), in the
form Cluster-Contrast clusters with (``compute_jaccard_distance`` in
https://github.com/alibaba/cluster-contrast-reid, file
``clustercontrast/utils/faiss_rerank.py``). The reference fills dense N x N
matrices in Python loops over samples; here every step is an array or sparse
matrix operation on the k-NN graph and only pairs closer than 1 are stored:

1. k-reciprocal sets: ``j in R(i, k)`` iff j is among i's top ``k + 1`` and
   i among j's. Each row of the ranking is sorted once, so "is i in j's list"
   is one ``searchsorted`` of the reversed keys ``j * N + i``.
2. Expansion: the relation is symmetric, so ``|R(c, k/2) & R(i, k)|`` for
   every member c of R(i, k) is the sparse product ``R_k @ R_k/2`` sampled on
   ``R_k``; the kept candidates' sets are added with one more product.
3. Weights ``softmax(-(2 - 2 cos))`` over each expanded set: cosines come
   from the k-NN search, the few pairs outside the k-NN lists are gathered.
4. Query expansion: ``V_qe = A_k2 @ V / k2`` with ``A_k2`` the k2-NN graph.
5. ``S[i, k] = sum_j min(V_ij, V_kj)`` over the pairs sharing support: the
   reference's inverted-index loop, run for blocks of rows at once. With V
   stored by column (rows sorted), entry (i, j) meets the entries (k, j),
   k >= i, of its column: a contiguous slice, so the (i, k, j) triples of
   a block are generated with ``repeat``/``arange`` arithmetic, their
   ``min`` is summed into a reused dense (rows x N) accumulator by
   ``index_add_``, and the distinct (i, k) are read back by a
   last-writer-wins scatter (no N x N scan, no sort). Only k >= i is
   computed (half of the reference's work); the lower triangle is mirrored
   by a counting-sort transposition. Blocks are bounded in triples and
   cells (memory does not grow with the overlap of the supports) and run
   on a few threads (torch ops release the GIL). Work:
   ``sum_j c_j (c_j + 1) / 2`` for the column counts c_j.
6. Jaccard distance ``1 - S / (2 - S)``, clamped at 0, kept if ``< 1`` (and
   ``<= max_distance``, e.g. DBSCAN's eps, if given).

Numbers (SYSU-sized synthetic features, 2 CPU cores):
``tools/analysis_tools/benchmark_clustering.py``.
"""
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Optional, Tuple

import numpy as np
import scipy.sparse as sp
import torch
import torch.nn.functional as F

from mmvireid.utils.knn import faiss_topk, topk_similarity

KNN_BACKENDS = ('torch', 'faiss')


def _reciprocal(ranks: np.ndarray, k: int) -> sp.csr_matrix:
    """R(i, k): j in i's top k+1 (of the ranking) and i in j's."""
    num = len(ranks)
    cols = ranks[:, :k + 1]
    rows = np.arange(num, dtype=np.int64)[:, None]
    own = (np.sort(cols, axis=1) + rows * num).ravel()  # sorted keys i*N+j
    back = (cols * num + rows).ravel()  # key of the reverse pair (j, i)
    found = own[np.minimum(np.searchsorted(own, back), own.size - 1)] == back
    found = found.reshape(cols.shape)
    indptr = np.zeros(num + 1, dtype=np.int64)
    np.cumsum(found.sum(1), out=indptr[1:])
    return sp.csr_matrix((np.ones(int(
        indptr[-1]), np.float32), cols[found].astype(np.int32), indptr),
                         shape=(num, num))


def _expanded_sets(ranks: np.ndarray, k1: int) -> sp.csr_matrix:
    """R(i, k1) plus R(c, round(k1/2)) of its members c with more than 2/3
    of that set inside R(i, k1), as a 0/1 pattern."""
    full = _reciprocal(ranks, k1)
    half = _reciprocal(ranks, int(np.around(k1 / 2)))
    half_sizes = np.diff(half.indptr)
    # reciprocity is symmetric: (full @ half)[i, c] = |R(i,k1) & R(c,k1/2)|
    overlap = (full @ half).multiply(full).tocoo()
    keep = overlap.data > 2 / 3 * half_sizes[overlap.col]
    chosen = sp.csr_matrix((np.ones(int(keep.sum()), np.float32),
                            (overlap.row[keep], overlap.col[keep])),
                           shape=full.shape)
    expanded = (full + chosen @ half).tocsr()
    expanded.data[:] = 1
    return expanded


def _pair_dots(feats: torch.Tensor,
               rows: np.ndarray,
               cols: np.ndarray,
               chunk: int = 512) -> np.ndarray:
    """``feats[rows[p]] . feats[cols[p]]`` for every pair p, in chunks.

    On CPU the gathered rows go to two reused buffers (fresh large
    allocations cost more than the dot products).
    """
    out = np.empty(len(rows))
    if feats.is_cuda:
        chunk *= 32
        for start in range(0, len(rows), chunk):
            r = torch.from_numpy(rows[start:start + chunk]).to(feats.device)
            c = torch.from_numpy(cols[start:start + chunk].astype(
                np.int64)).to(feats.device)
            out[start:start + chunk] = (feats[r] * feats[c]).sum(1).cpu()
        return out
    x = feats.numpy()
    left = np.empty((chunk, x.shape[1]), dtype=x.dtype)
    right = np.empty_like(left)
    for start in range(0, len(rows), chunk):
        size = min(chunk, len(rows) - start)
        np.take(x, rows[start:start + size], axis=0, out=left[:size])
        np.take(x, cols[start:start + size], axis=0, out=right[:size])
        out[start:start + size] = np.einsum('ij,ij->i', left[:size],
                                            right[:size])
    return out


def _encoding(feats: torch.Tensor, support: sp.csr_matrix, sims: np.ndarray,
              ranks: np.ndarray) -> sp.csr_matrix:
    """V[i, j] = exp(-(2 - 2 cos_ij)) normalised over each row's support."""
    num = len(ranks)
    rows = np.repeat(np.arange(num, dtype=np.int64), np.diff(support.indptr))
    keys = rows * num + support.indices
    # cosines of the k-NN lists, looked up by sorted key
    order = np.argsort(ranks, axis=1)
    knn_keys = (np.take_along_axis(ranks, order, 1) +
                np.arange(num, dtype=np.int64)[:, None] * num).ravel()
    knn_sims = np.take_along_axis(sims, order, 1).ravel()
    pos = np.minimum(np.searchsorted(knn_keys, keys), knn_keys.size - 1)
    hit = knn_keys[pos] == keys
    cos = np.where(hit, knn_sims[pos], 0).astype(np.float64)
    # the rest (expansion members outside a row's k-NN list): gathered dots
    missing = np.flatnonzero(~hit)
    cos[missing] = _pair_dots(feats, rows[missing], support.indices[missing])
    weights = np.exp(2 * cos - 2)
    weights /= np.bincount(rows, weights, minlength=num)[rows]
    return sp.csr_matrix((weights, support.indices, support.indptr),
                         shape=support.shape)


def _jaccard_rows(weights: sp.csr_matrix,
                  max_distance: Optional[float] = None,
                  max_pairs: int = 1 << 20,
                  max_cells: int = 1 << 22) -> sp.csr_matrix:
    """Jaccard distances from ``S[i, k] = sum_j min(V_ij, V_kj)``.

    See the module doc, step 5. A block holds at most about ``max_pairs``
    (i, k, j) triples and ``max_cells`` accumulator cells per worker, so
    memory is bounded whatever the support sizes.
    """
    num = weights.shape[0]
    csc = weights.tocsc()  # rows sorted within each column
    col_ptr = csc.indptr.astype(np.int64)
    slot_rows, slot_vals = csc.indices.astype(np.int64), csc.data
    # slot g meets the slots g .. end of its column: the rows k >= i
    size_of = np.repeat(col_ptr[1:], np.diff(col_ptr)) - np.arange(csc.nnz)
    by_row = np.argsort(slot_rows, kind='stable')  # slots, row by row
    row_ptr = np.zeros(num + 1, dtype=np.int64)
    np.cumsum(np.bincount(slot_rows, minlength=num), out=row_ptr[1:])
    triples = np.zeros(num + 1, dtype=np.int64)  # before each row
    np.cumsum(
        np.bincount(slot_rows, size_of, minlength=num).astype(np.int64),
        out=triples[1:])
    rows_per_block = max(1, min(num, max_cells // num))
    blocks, start = [], 0
    while start < num:
        stop = int(
            np.searchsorted(triples, triples[start] + max_pairs, 'right')) - 1
        stop = min(max(stop, start + 1), start + rows_per_block, num)
        blocks.append((start, stop))
        start = stop
    rows_t, vals_t = torch.from_numpy(slot_rows), torch.from_numpy(slot_vals)
    buffers = threading.local()

    def upper_block(block: Tuple[int, int]) -> Tuple[np.ndarray, ...]:
        start, stop = block
        if not hasattr(buffers, 'accum'):
            buffers.accum = torch.zeros(
                rows_per_block * num, dtype=torch.float64)
            buffers.mark = torch.zeros(rows_per_block * num, dtype=torch.int64)
        slots = by_row[row_ptr[start]:row_ptr[stop]]
        size = size_of[slots]
        total = int(triples[stop] - triples[start])
        partner = np.repeat(slots - np.cumsum(size) + size, size)
        partner += np.arange(total)
        partner = torch.from_numpy(partner)
        key = torch.from_numpy(
            np.repeat((slot_rows[slots] - start) * num, size))
        key += rows_t.index_select(0, partner)
        value = vals_t.index_select(0, partner)
        torch.minimum(
            value,
            torch.from_numpy(np.repeat(slot_vals[slots], size)),
            out=value)
        buffers.accum.index_add_(0, key, value)
        # one survivor per distinct key: the last writer of its cell
        order = torch.arange(total)
        buffers.mark.index_copy_(0, key, order)
        key = key[buffers.mark.index_select(0, key) == order]
        shared = buffers.accum.index_select(0, key)
        buffers.accum.index_fill_(0, key, 0)
        dist = (1 - shared / (2 - shared)).clamp_(min=0)
        keep = dist < 1
        if max_distance is not None:
            keep &= dist <= max_distance
        key = key[keep]
        return ((key // num + start).int().numpy(), (key % num).int().numpy(),
                dist[keep].numpy())

    workers = max(1, min(4, torch.get_num_threads(), len(blocks)))
    with ThreadPoolExecutor(workers) as pool:  # torch ops release the GIL
        parts = list(pool.map(upper_block, blocks))
    rows, cols, dist = (np.concatenate(p) for p in zip(*parts))
    del parts
    return _mirror_upper(rows, cols, dist, num)


def _mirror_upper(rows: np.ndarray, cols: np.ndarray, dist: np.ndarray,
                  num: int) -> sp.csr_matrix:
    """Symmetric CSR from the entries ``k >= i`` (grouped by row): each row
    holds its mirrored lower part, then its upper part. Linear time."""
    indptr = np.zeros(num + 1, dtype=np.int64)
    np.cumsum(np.bincount(rows, minlength=num), out=indptr[1:])
    off = rows != cols
    lower = sp.csr_matrix(
        (dist[off], cols[off], np.searchsorted(np.flatnonzero(off), indptr)),
        shape=(num, num)).T.tocsr()  # a counting-sort transposition
    n_upper, n_lower = np.diff(indptr), np.diff(lower.indptr)
    merged_ptr = np.zeros(num + 1, dtype=np.int64)
    np.cumsum(n_upper + n_lower, out=merged_ptr[1:])
    to_lower = np.repeat(merged_ptr[:-1] - lower.indptr[:-1], n_lower)
    to_lower += np.arange(lower.nnz)
    to_upper = np.repeat(merged_ptr[:-1] + n_lower - indptr[:-1], n_upper)
    to_upper += np.arange(len(rows))
    data = np.empty(merged_ptr[-1], dtype=dist.dtype)
    indices = np.empty(merged_ptr[-1], dtype=np.int32)
    data[to_lower], indices[to_lower] = lower.data, lower.indices
    data[to_upper], indices[to_upper] = dist, cols
    return sp.csr_matrix((data, indices, merged_ptr), shape=(num, num))


def k_reciprocal_jaccard(
        features: torch.Tensor,
        k1: int = 30,
        k2: int = 6,
        chunk_size: int = 4096,
        knn_backend: str = 'torch',
        faiss_index: str = 'flat',
        nlist: Optional[int] = None,
        nprobe: int = 16,
        num_neighbours: Optional[int] = None,
        max_distance: Optional[float] = None) -> sp.csr_matrix:
    """Sparse k-reciprocal Jaccard distances of (normalised) features.

    Same values as Cluster-Contrast's ``compute_jaccard_distance(features,
    k1, k2)`` (up to float rounding), computed without any N x N array.

    Args:
        features (Tensor): (N, D) features, L2-normalised here.
        k1 (int): k-reciprocal neighbourhood size. Defaults to 30.
        k2 (int): Local query expansion size (1 disables it). Defaults to 6.
        chunk_size (int): Query rows per matmul chunk of the torch k-NN
            search (peak ``chunk_size x N`` floats). Defaults to 4096.
        knn_backend (str): ``'torch'`` (:func:`topk_similarity`, exact, on
            the features' device) or ``'faiss'`` (see :func:`faiss_topk`).
        faiss_index (str): ``'flat'`` (exact) or ``'ivf'`` (approximate,
            for millions of images). Only with ``knn_backend='faiss'``.
        nlist (int, optional): IVF lists; defaults to ``4 * sqrt(N)``.
        nprobe (int): IVF lists probed per query. Defaults to 16.
        num_neighbours (int, optional): Length of the initial ranking, self
            included. Defaults to ``k1``: Cluster-Contrast's faiss search
            returns k1 neighbours, so R(i, k1) is drawn from the top k1.
            ``k1 + 1`` reproduces Zhong et al.'s dense ``re_ranking``.
        max_distance (float, optional): Store only pairs at distance
            ``<= max_distance`` (e.g. DBSCAN's eps: the others are never
            neighbours). Bounds the output when supports overlap a lot.
            Defaults to None: every pair closer than 1.

    Returns:
        scipy.sparse.csr_matrix: (N, N) float64 distances in [0, 1). Only
        pairs closer than 1 (and within ``max_distance``) are stored; a
        missing pair is at distance 1 (or beyond ``max_distance``). Zeros
        (the diagonal at least) are stored explicitly, because a sparse
        precomputed matrix in scikit-learn's DBSCAN only has its stored
        entries as neighbours. Rows are in order; columns within a row are
        not sorted.
    """
    if features.dim() != 2 or len(features) < 2:
        raise ValueError('features must be (N, D) with N >= 2, got shape '
                         f'{tuple(features.shape)}')
    if k1 < 1 or k2 < 1:
        raise ValueError(f'k1 and k2 must be >= 1, got {k1} and {k2}')
    if knn_backend not in KNN_BACKENDS:
        raise ValueError(f'knn_backend must be one of {KNN_BACKENDS}, got '
                         f'{knn_backend!r}')
    feats = F.normalize(features.detach().float(), dim=1)
    num = len(feats)
    width = min(num_neighbours or k1, num)
    if knn_backend == 'torch':
        sims, ranks = topk_similarity(feats, feats, width, chunk_size)
        sims, ranks = sims.cpu().numpy(), ranks.cpu().numpy()
    else:
        sims, ranks = faiss_topk(feats, width, faiss_index, nlist, nprobe)
    weights = _encoding(feats, _expanded_sets(ranks, k1), sims, ranks)
    if k2 != 1:
        num_qe = min(k2, width)
        expand = sp.csr_matrix(
            (np.full(num * num_qe, 1 / num_qe), ranks[:, :num_qe].ravel(),
             np.arange(0, num * num_qe + 1, num_qe)),
            shape=(num, num))
        weights = (expand @ weights).tocsr()
    return _jaccard_rows(weights, max_distance)
