"""Exact k-nearest-neighbour search by chunked inner products.

The similarity matrix between a query set and a gallery set is never built in
full: queries are processed ``chunk_size`` rows at a time with ``torch.mm``
followed by ``torch.topk``, so the peak extra memory is
``chunk_size x num_gallery`` floats. The routine is device agnostic (CPU or
CUDA tensors) and is shared by evaluation (CMFP) and clustering (k-reciprocal
Jaccard distance). :func:`faiss_topk` is the faiss alternative (exact or
IVF, GPU when available).
"""
from typing import Optional, Tuple

import numpy as np
import torch
from torch import Tensor


def topk_similarity(query: Tensor,
                    gallery: Tensor,
                    k: int,
                    chunk_size: int = 4096,
                    exclude_self: bool = False) -> Tuple[Tensor, Tensor]:
    """Find the ``k`` most similar gallery rows of every query row.

    Similarity is the inner product ``query @ gallery.T``; it is the cosine
    similarity when both inputs are L2-normalised (the caller's job).
    Computation runs in float32 on the device of ``query``.

    Args:
        query (Tensor): Query features of shape (Nq, D).
        gallery (Tensor): Gallery features of shape (Ng, D).
        k (int): Number of neighbours. Clamped to the number of available
            gallery items (``Ng``, or ``Ng - 1`` with ``exclude_self``).
        chunk_size (int): Number of query rows whose similarities are held
            in memory at once. Defaults to 4096.
        exclude_self (bool): Whether ``query`` and ``gallery`` are the same
            set, and item ``i`` must not be returned as a neighbour of query
            ``i`` (the diagonal is masked to ``-inf``). Requires
            ``Nq == Ng``. Defaults to False, i.e. self is included.

    Returns:
        Tuple[Tensor, Tensor]: ``(values, indices)``, both of shape
        (Nq, k'), with ``k' = min(k, available)``; ``values`` (float32)
        are sorted in descending order along each row and ``indices``
        (int64) index into ``gallery``.
    """
    if query.dim() != 2 or gallery.dim() != 2:
        raise ValueError('query and gallery must be 2-D, got shapes '
                         f'{tuple(query.shape)} and {tuple(gallery.shape)}')
    if query.size(1) != gallery.size(1):
        raise ValueError('feature dimensions differ: query '
                         f'{tuple(query.shape)} vs gallery '
                         f'{tuple(gallery.shape)}')
    if exclude_self and query.size(0) != gallery.size(0):
        raise ValueError('exclude_self requires query and gallery of the same '
                         f'size, got {query.size(0)} and {gallery.size(0)}')
    if k < 1:
        raise ValueError(f'k must be a positive integer, got {k}')
    if chunk_size < 1:
        raise ValueError(f'chunk_size must be positive, got {chunk_size}')

    num_query, num_gallery = query.size(0), gallery.size(0)
    available = num_gallery - 1 if exclude_self else num_gallery
    k = min(k, available)
    device = query.device
    query = query.to(dtype=torch.float32)
    gallery = gallery.to(device=device, dtype=torch.float32)
    values = query.new_empty((num_query, max(k, 0)))
    indices = torch.empty((num_query, max(k, 0)),
                          dtype=torch.long,
                          device=device)
    if k <= 0:
        return values, indices

    gallery_t = gallery.t()
    for start in range(0, num_query, chunk_size):
        end = min(start + chunk_size, num_query)
        sim = torch.mm(query[start:end], gallery_t)
        if exclude_self:
            rows = torch.arange(end - start, device=device)
            sim[rows, rows + start] = float('-inf')
        chunk_values, chunk_indices = torch.topk(
            sim, k, dim=1, largest=True, sorted=True)
        values[start:end] = chunk_values
        indices[start:end] = chunk_indices
    return values, indices


def faiss_topk(feats: torch.Tensor,
               k: int,
               index_type: str = 'flat',
               nlist: Optional[int] = None,
               nprobe: int = 16) -> Tuple[np.ndarray, np.ndarray]:
    """Inner-product k-NN of ``feats`` against itself with faiss.

    ``'flat'`` (``IndexFlatIP``) is exact. ``'ivf'`` (``IndexIVFFlat``,
    ``nlist`` lists, ``nprobe`` probed) is approximate: for millions of
    images, where recall below 1 changes the clustering slightly. A faiss
    GPU index is used when faiss has GPUs and ``feats`` is on CUDA.

    Returns:
        Tuple[np.ndarray, np.ndarray]: (N, k) float32 similarities
        (descending) and int64 indices.
    """
    try:
        import faiss
    except ImportError as err:
        raise ImportError(
            "knn_backend='faiss' needs the faiss package: install faiss-cpu "
            "or faiss-gpu, or use knn_backend='torch'") from err
    x = np.ascontiguousarray(feats.detach().cpu().numpy(), dtype=np.float32)
    dim = x.shape[1]
    if index_type == 'flat':
        index = faiss.IndexFlatIP(dim)
    elif index_type == 'ivf':
        nlist = nlist or max(1, int(4 * np.sqrt(len(x))))
        index = faiss.IndexIVFFlat(
            faiss.IndexFlatIP(dim), dim, nlist, faiss.METRIC_INNER_PRODUCT)
        index.train(x)
        index.nprobe = nprobe
    else:
        raise ValueError(f"faiss_index must be 'flat' or 'ivf', got "
                         f'{index_type!r}')
    if feats.is_cuda and getattr(faiss, 'get_num_gpus', lambda: 0)() > 0:
        resources = faiss.StandardGpuResources()
        index = faiss.index_cpu_to_gpu(resources, feats.device.index or 0,
                                       index)
    index.add(x)
    sims, ranks = index.search(x, k)
    if (ranks < 0).any():
        raise RuntimeError('faiss returned fewer than k neighbours for some '
                           'rows: increase nprobe (or use the flat index)')
    return sims, ranks.astype(np.int64)


#: options of :func:`~mmvireid.models.utils.k_reciprocal_jaccard` a config
#: may set through ``knn_cfg``
KNN_OPTIONS = ('chunk_size', 'knn_backend', 'faiss_index', 'nlist', 'nprobe',
               'num_neighbours')
KNN_BACKENDS = ('torch', 'faiss')


def check_knn_cfg(knn_cfg: Optional[dict]) -> dict:
    """Validate the k-NN options of the Jaccard distance (at build time).

    Raises:
        ValueError: An unknown option or backend, a non-positive
            ``chunk_size``.
        ImportError: ``knn_backend='faiss'`` without faiss installed.
    """
    knn_cfg = dict(knn_cfg or {})
    unknown = sorted(set(knn_cfg) - set(KNN_OPTIONS))
    if unknown:
        raise ValueError(f'unknown knn_cfg key(s) {unknown};'
                         f' known: {KNN_OPTIONS}')
    backend = knn_cfg.get('knn_backend', 'torch')
    if backend not in KNN_BACKENDS:
        raise ValueError(f'knn_cfg.knn_backend must be one '
                         f'of {KNN_BACKENDS}, got {backend!r}')
    if backend == 'faiss':
        try:
            import faiss  # noqa: F401
        except ImportError as err:
            raise ImportError(
                "knn_cfg.knn_backend='faiss' needs faiss: "
                'pip install -e ".[faiss-cpu]" (or ".[faiss-gpu]")') from err
    chunk = knn_cfg.get('chunk_size', 1)
    if not isinstance(chunk, int) or chunk < 1:
        raise ValueError('knn_cfg.chunk_size must be a '
                         f'positive int, got {chunk!r}')
    return knn_cfg
