"""Which identity appears in which camera, how often, and in which split.

The plan of identity ``pid`` is drawn from ``SeedSequence([seed, pid, 7])``
(7 is no camera number), independent of every other identity.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from .synthvi_config import INFRARED_CAMERAS, VISIBLE_CAMERAS, SynthVIConfig
from .synthvi_identity import seeded_rng

PLAN_STREAM = 7


def plan_identity(cfg: SynthVIConfig, pid: int, is_test: bool) -> np.ndarray:
    """Number of images of ``pid`` in cam1..cam6 (0 = absent).

    Every identity keeps at least one visible and one infrared camera. A test
    identity also keeps cam1 or cam2 (indoor gallery) and keeps cam1 when it
    has cam3, whose queries ignore cam2 under the SYSU camera rule.

    Args:
        cfg (SynthVIConfig): Generator parameters.
        pid (int): Identity number.
        is_test (bool): Whether ``pid`` is a test identity.

    Returns:
        np.ndarray: (6,) int64 image counts of cam1..cam6.
    """
    rng = seeded_rng(cfg.seed, pid, PLAN_STREAM)
    vis = np.array([c - 1 for c in VISIBLE_CAMERAS])
    ir = np.array([c - 1 for c in INFRARED_CAMERAS])
    base = np.empty(6, np.int64)
    base[vis], base[ir] = cfg.images_per_visible_cam, cfg.images_per_ir_cam
    j = cfg.images_per_cam_jitter
    counts = np.maximum(base + rng.integers(-j, j + 1, size=6), 1)
    present = rng.random(6) >= cfg.camera_dropout
    keep_vis, keep_ir, keep_indoor = (rng.choice(vis), rng.choice(ir),
                                      rng.integers(2))
    if not present[vis].any():
        present[keep_vis] = True
    if not present[ir].any():
        present[keep_ir] = True
    if is_test:
        if not (present[0] or present[1]):
            present[keep_indoor] = True
        if present[2]:
            present[0] = True
    return np.where(present, counts, 0)


def synthvi_split_ids(cfg: SynthVIConfig) -> dict[str, list[int]]:
    """Identity numbers of each split: train, then val, then test, from 1.

    Args:
        cfg (SynthVIConfig): Generator parameters.

    Returns:
        dict[str, list[int]]: ``{'train': [...], 'val': [...],
        'test': [...]}``.
    """
    bounds = np.cumsum(
        [0, cfg.num_train_ids, cfg.num_val_ids, cfg.num_test_ids]) + 1
    return {
        name: list(range(int(bounds[i]), int(bounds[i + 1])))
        for i, name in enumerate(('train', 'val', 'test'))
    }


def synthvi_image_plan(cfg: SynthVIConfig) -> dict[int, np.ndarray]:
    """Images per camera of every identity.

    Args:
        cfg (SynthVIConfig): Generator parameters.

    Returns:
        dict[int, np.ndarray]: pid -> (6,) counts of cam1..cam6.
    """
    ids = synthvi_split_ids(cfg)
    test = set(ids['test'])
    return {
        pid: plan_identity(cfg, pid, pid in test)
        for split in ('train', 'val', 'test')
        for pid in ids[split]
    }


def count_synthvi_images(cfg: SynthVIConfig, ids: dict[str, list[int]],
                         plan: dict[int, np.ndarray]) -> dict[str, Any]:
    """Image and identity counts of a plan, as stored in the manifest.

    Args:
        cfg (SynthVIConfig): Generator parameters.
        ids (dict[str, list[int]]): ``synthvi_split_ids(cfg)``.
        plan (dict[int, np.ndarray]): ``synthvi_image_plan(cfg)``.

    Returns:
        dict: ``ids``, ``images``, ``cameras``, ``train`` (train + val, as
        SYSU trains on both), ``test`` (with the query size and the
        single-shot gallery sizes of the all-search and indoor modes).
    """
    vis = [c - 1 for c in VISIBLE_CAMERAS]
    ir = [c - 1 for c in INFRARED_CAMERAS]
    table = np.stack([plan[pid] for pid in sorted(plan)])
    train = np.stack([plan[p] for p in ids['train'] + ids['val']])
    test = np.stack([plan[p] for p in ids['test']])
    return dict(
        ids=dict(
            train=cfg.num_train_ids,
            val=cfg.num_val_ids,
            test=cfg.num_test_ids,
            total=len(plan)),
        images=dict(
            total=int(table.sum()),
            visible=int(table[:, vis].sum()),
            infrared=int(table[:, ir].sum())),
        cameras={f'cam{c}': int(table[:, c - 1].sum())
                 for c in range(1, 7)},
        train=dict(
            ids=len(train),
            visible=int(train[:, vis].sum()),
            infrared=int(train[:, ir].sum())),
        test=dict(
            ids=len(test),
            visible=int(test[:, vis].sum()),
            infrared=int(test[:, ir].sum()),
            query=int(test[:, ir].sum()),
            gallery_all_single_shot=int((test[:, vis] > 0).sum()),
            gallery_indoor_single_shot=int((test[:, :2] > 0).sum()),
            indoor_ids=int((test[:, :2] > 0).any(1).sum())))
