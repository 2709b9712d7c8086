"""Colour a SynthVI label map as a visible or an infrared image.

Visible: colour table (identity colours + per-image jitter, camera's wall and
floor, clutter), body and background shading, camera colour cast and
brightness, blur, noise.

Infrared (no hue at all)::

    ir = c * luminance(visible rendering without camera cast)
         + (1 - c) * thermal table value        # warm skin, cool background
    ir = blur(ir) * camera gain + camera offset + noise

``c = SynthVIConfig.ir_luminance_coupling <= 0.85``, so at least 15% of every
IR pixel comes from per-identity material temperatures that visible colours
do not determine.
"""
from __future__ import annotations

import math
from typing import Any

import numpy as np

from .synthvi_canvas import LabelCanvas
from .synthvi_config import INFRARED_CAMERAS, SynthVIConfig
from .synthvi_draw import draw_background, draw_person, sample_pose
from .synthvi_identity import (CLUTTER0, FLOOR, NUM_PERSON_LABELS, WALL,
                               CameraScene, SynthVIIdentity, sample_camera,
                               sample_identity)

#: ITU-R BT.601 luma weights (RGB).
LUMA = np.array([0.299, 0.587, 0.114], np.float32)


def _gaussian_blur(img: np.ndarray, sigma: float) -> np.ndarray:
    """Separable Gaussian blur of an (H, W[, C]) float image, edge mode."""
    if sigma < 0.1:
        return img
    r = max(1, int(math.ceil(2 * sigma)))
    k = np.exp(-0.5 * (np.arange(-r, r + 1) / sigma)**2).astype(np.float32)
    k /= k.sum()
    h, w = img.shape[:2]
    pad = [(r, r), (0, 0)] + [(0, 0)] * (img.ndim - 2)
    p = np.pad(img, pad, mode='edge')
    out = k[0] * p[:h]
    for i in range(1, 2 * r + 1):
        out += k[i] * p[i:i + h]
    pad = [(0, 0), (r, r)] + [(0, 0)] * (img.ndim - 2)
    p = np.pad(out, pad, mode='edge')
    out = k[0] * p[:, :w]
    for i in range(1, 2 * r + 1):
        out += k[i] * p[:, i:i + w]
    return out


def _to_uint8(img: np.ndarray) -> np.ndarray:
    return np.clip(img * 255.0 + 0.5, 0, 255).astype(np.uint8)


def render_sample(cfg: SynthVIConfig,
                  pid: int,
                  cam: int,
                  index: int,
                  identity: SynthVIIdentity | None = None,
                  camera: CameraScene | None = None,
                  return_intermediates: bool = False) -> Any:
    """Render image ``index`` (>= 1) of identity ``pid`` in camera ``cam``.

    The image depends only on ``cfg`` and ``(pid, cam, index)``: its random
    draws come from ``SeedSequence([cfg.seed, pid, cam, index])``.

    Args:
        cfg (SynthVIConfig): Generator parameters.
        pid (int): Identity number.
        cam (int): Camera 1..6 (3 and 6 are infrared).
        index (int): Image number within (pid, cam), from 1.
        identity (SynthVIIdentity, optional): ``sample_identity(cfg, pid)``,
            to avoid re-drawing it. Defaults to None.
        camera (CameraScene, optional): ``sample_camera(cfg, cam)``.
            Defaults to None.
        return_intermediates (bool): Also render the other modality of the
            same person, pose and background, and return the pieces.

    Returns:
        np.ndarray | dict: The (H, W, 3) uint8 RGB image (infrared: three
        equal channels). With ``return_intermediates``, a dict with
        ``'image'`` (that array), ``'labels'`` (H, W) uint8 part labels,
        ``'pose'``, ``'visible'`` (H, W, 3) uint8 RGB with this camera's
        colour cast, ``'visible_nocast'`` (H, W, 3) float32,
        ``'luminance'`` (H, W) float32 luminance of ``visible_nocast``,
        ``'thermal'`` (H, W) float32, ``'ir_clean'`` (H, W) float32 =
        ``c * luminance + (1 - c) * thermal`` and ``'infrared'`` (H, W)
        uint8 with this camera's IR sensor applied.
    """
    if cam not in range(1, 7) or index < 1:
        raise ValueError(f'cam must be 1..6 and index >= 1, got {cam}, '
                         f'{index}')
    ident = identity if identity is not None else sample_identity(cfg, pid)
    scene = camera if camera is not None else sample_camera(cfg, cam)
    rng = np.random.default_rng(
        np.random.SeedSequence([cfg.seed, pid, cam, index]))
    h, w = cfg.height, cfg.width

    # Geometry, once.
    canvas = LabelCanvas(h, w)
    horizon = scene.horizon + rng.uniform(-0.03, 0.03)
    num_clutter = int(rng.integers(cfg.max_clutter + 1))
    draw_background(canvas, rng, horizon, num_clutter)
    pose = sample_pose(rng, ident, h, w, cfg.num_views, cfg.pose_jitter)
    draw_person(canvas, ident, pose)
    labels = canvas.labels

    # Colour and thermal tables (visible colours without camera cast).
    num_labels = CLUTTER0 + cfg.max_clutter
    table = np.zeros((num_labels, 3), np.float32)
    thermal = np.zeros(num_labels, np.float32)
    bg_noise = rng.normal(0, cfg.background_jitter, (2, 3))
    table[WALL] = scene.wall + bg_noise[0]
    table[FLOOR] = scene.floor + bg_noise[1]
    person = slice(1, 1 + NUM_PERSON_LABELS)
    table[person] = ident.colors + rng.normal(0, cfg.color_jitter,
                                              (NUM_PERSON_LABELS, 3))
    thermal[WALL], thermal[FLOOR] = scene.wall_thermal, scene.floor_thermal
    thermal[person] = ident.thermal + rng.normal(0, 0.02, NUM_PERSON_LABELS)
    clutter = slice(CLUTTER0, CLUTTER0 + num_clutter)
    table[clutter] = 0.1 + 0.8 * rng.random((num_clutter, 3))
    thermal[clutter] = rng.uniform(0.05, 0.65, num_clutter)
    np.clip(table, 0, 1, out=table)
    np.clip(thermal, 0, 1, out=thermal)

    # Shading: a highlight across the body, a vertical gradient behind it.
    ys, xs = canvas.ys / h, canvas.xs
    half = max(pose.size * ident.shoulder * 1.6, 1.0)
    body_x = 1 - cfg.shading * np.minimum(
        ((xs - pose.cx - pose.light) / half)**2, 1)
    body_y = 1.04 - 0.08 * ys
    bg_y = 1.08 - 0.18 * ys
    is_person = (labels - np.uint8(1)) < NUM_PERSON_LABELS
    body_shade = body_y[:, None] * body_x[None, :]
    shade = np.where(is_person, body_shade, bg_y[:, None])

    def visible() -> np.ndarray:
        img = np.take(table * scene.cast, labels, axis=0)
        img *= shade[..., None]
        img = _gaussian_blur(img, cfg.visible_blur_sigma)
        img += cfg.visible_noise_std * rng.standard_normal(
            img.shape, dtype=np.float32)
        return _to_uint8(img)

    is_ir = cam in INFRARED_CAMERAS
    if is_ir or return_intermediates:
        c = cfg.ir_luminance_coupling
        luminance = np.take(table @ LUMA, labels) * shade
        thermal_map = np.take(thermal, labels)
        ir_clean = c * luminance + (1 - c) * thermal_map

    def infrared() -> np.ndarray:
        ir = _gaussian_blur(ir_clean, scene.ir_blur)
        ir = ir * scene.ir_gain + scene.ir_offset
        ir += scene.ir_noise * rng.standard_normal(ir.shape, dtype=np.float32)
        return _to_uint8(ir)

    primary = infrared() if is_ir else visible()
    image = np.repeat(primary[..., None], 3, axis=2) if is_ir else primary
    if not return_intermediates:
        return image
    other = visible() if is_ir else infrared()
    return dict(
        image=image,
        labels=labels,
        pose=pose,
        visible=other if is_ir else primary,
        visible_nocast=np.take(table, labels, axis=0) * shade[..., None],
        luminance=luminance,
        thermal=thermal_map,
        ir_clean=ir_clean,
        infrared=primary if is_ir else other)
