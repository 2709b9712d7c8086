"""Feature extraction over a whole dataset, sharded across ranks."""
from typing import Dict, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from mmengine.dist import (broadcast, broadcast_object_list, collect_results,
                           get_dist_info)
from mmengine.logging import print_log
from mmengine.model import is_model_wrapper
from mmengine.runner.amp import autocast
from mmengine.utils import ProgressBar

#: the features :func:`extract_features` returns ('global' always)
EXTRACTED_FEATURES = ('global', 'parts')


def check_extracted_features(features: Sequence[str],
                             owner: str = 'extract_features') -> tuple:
    """``features`` as a tuple, checked against :data:`EXTRACTED_FEATURES`.

    Raises:
        ValueError: ``'global'`` is missing or another name is given; the
            message starts with ``owner``.
    """
    features = tuple(features)
    if 'global' not in features or set(features) - set(EXTRACTED_FEATURES):
        raise ValueError(
            f'{owner}: the features {features} cannot be extracted: '
            f"'global' is required and {EXTRACTED_FEATURES[1:]} may be added")
    return features


@torch.no_grad()
def extract_features(
    model: torch.nn.Module,
    dataloader,
    show_progress: bool = True,
    amp: bool = False,
    features: Sequence[str] = ('global', )
) -> Dict[str, torch.Tensor]:
    """Eval-mode features of every sample of ``dataloader.dataset``.

    Each rank runs the model on its shard (the dataloader should use a
    non-shuffling ``DefaultSampler``); the results are gathered, ordered by
    ``sample_idx`` and broadcast, so every rank returns the same tensors.
    The model's training mode is restored afterwards.

    Args:
        model (nn.Module): A model (or wrapper). With ``features`` beyond
            ``('global',)`` its ``extract_step(data, features)`` writes
            ``pred_feature`` and ``pred_<name>_feature`` into the data
            samples (:meth:`~mmvireid.models.ReIDer.extract_step`);
            otherwise ``test_step`` writes ``pred_feature``.
        dataloader (DataLoader): Over the dataset to extract.
        show_progress (bool): Progress bar on rank 0.
        amp (bool): Run the model under mixed precision (mmengine's
            ``autocast``: float16 on CUDA, bfloat16 on CPU). The features
            are returned in float32 either way. Defaults to False.

    Returns:
        dict: ``features`` (N, D) float32, L2-normalised; ``pids`` (N,) true
        ids (diagnostics only); ``modality_ids`` (N,) int64, positions in
        ``modalities`` (the dataset's declared modalities, metainfo
        ``modalities``, a tuple of names); ``camids`` (N,); and
        ``part_features`` (N, P, C), each part L2-normalised, with
        ``'parts'`` in ``features``.

    Raises:
        ValueError: ``features`` lacks ``'global'`` or names a feature
            other than ``'global'`` / ``'parts'``.
    """
    features = check_extracted_features(features)
    if features == ('global', ):
        step = model.test_step
    else:
        module = model.module if is_model_wrapper(model) else model

        def step(data):
            return module.extract_step(data, features)

    rank, world_size = get_dist_info()
    size = len(dataloader.dataset)
    modalities = tuple(dataloader.dataset.metainfo['modalities'])
    was_training = model.training
    model.eval()
    results = []
    bar = ProgressBar(size) if show_progress and rank == 0 else None
    for data in dataloader:
        with autocast(enabled=amp):
            samples = step(data)
        results.extend(_to_host(samples, modalities))
        if bar is not None:
            bar.update(len(data['inputs']) * world_size)
    model.train(was_training)
    if bar is not None:
        print()
    gathered = collect_results(results, size, device='cpu')
    out = None
    if rank == 0:
        gathered.sort(key=lambda r: r[0])
        indices = [r[0] for r in gathered]
        if indices != list(range(size)):
            raise RuntimeError(f'feature extraction covered {len(indices)} '
                               f'of {size} samples')
        out = dict(
            features=F.normalize(torch.stack([r[1] for r in gathered]), dim=1),
            pids=torch.tensor([r[2] for r in gathered]),
            modality_ids=torch.tensor([r[3] for r in gathered]),
            camids=torch.tensor([r[4] for r in gathered]))
        if gathered[0][5] is not None:
            out['part_features'] = F.normalize(
                torch.stack([r[5] for r in gathered]), dim=2)
    if world_size > 1:
        shapes = [
            None if out is None else {
                k: (tuple(v.shape), v.dtype)
                for k, v in out.items()
            }
        ]
        broadcast_object_list(shapes)
        if out is None:
            out = {
                k: torch.empty(s, dtype=d)
                for k, (s, d) in shapes[0].items()
            }
        for value in out.values():
            broadcast(value)
    counts = torch.bincount(out['modality_ids'], minlength=len(modalities))
    print_log(
        f'extracted features of {size} images (' +
        ', '.join(f'{int(n)} {m}' for m, n in zip(modalities, counts)) + ')',
        logger='current')
    out['modalities'] = modalities
    return out


def _to_host(samples: list, modalities: tuple) -> list:
    """``(sample_idx, feature, pid, modality_id, camid, part_feature)`` of
    each sample, on the CPU in float32: one device-to-host copy per batch,
    then a private copy per row (a row view would carry the whole batch
    when gathered across ranks)."""
    for s in samples:
        if s.modality not in modalities:
            raise ValueError(
                f'sample {s.sample_idx} has modality {s.modality!r}, which '
                f'the dataset does not declare (metainfo modalities '
                f'{modalities})')
    feats = torch.stack([s.pred_feature for s in samples]).float().cpu()
    parts = None
    if samples[0].get('pred_parts_feature') is not None:
        parts = torch.stack([s.pred_parts_feature
                             for s in samples]).float().cpu()
    return [(int(s.sample_idx), feats[i].clone(), int(s.pid),
             modalities.index(s.modality), int(s.camid),
             None if parts is None else parts[i].clone())
            for i, s in enumerate(samples)]


def split_by_modality(modality_ids: torch.Tensor,
                      modalities: tuple) -> Dict[str, np.ndarray]:
    """Dataset indices of the samples of each declared modality."""
    ids = np.asarray(modality_ids)
    return {m: np.flatnonzero(ids == i) for i, m in enumerate(modalities)}
