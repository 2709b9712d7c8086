"""Geometry of a SynthVI image: a part-label map drawn once per image.

Shapes are rasterised with vectorised numpy on the pixel grid of their
bounding box only (painter's order, later shapes on top); the modality
renderers in :mod:`.synthvi_render` then colour the label map.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .synthvi_canvas import LabelCanvas
from .synthvi_identity import (BAG, CLUTTER0, FLOOR, HAIR, HAT, LOWER_A,
                               LOWER_B, SHOES, SKIN, UPPER_A, UPPER_B,
                               SynthVIIdentity)

FRONT, BACK, SIDE = 0, 1, 2


@dataclass(frozen=True)
class Pose:
    """Per-image pose of a person (lengths in pixels).

    Args:
        view (int): ``FRONT``, ``BACK`` or ``SIDE``.
        facing (int): -1 (left) or +1 (right); used by side views.
        cx (float): Horizontal body centre.
        top (float): Top of the head.
        size (float): Person height.
        stance (float): Feet spread (front/back) or stride (side).
        arm (float): Arm abduction (front/back) or swing (side) in radians.
        light (float): Horizontal offset of the shading highlight.
    """

    view: int
    facing: int
    cx: float
    top: float
    size: float
    stance: float
    arm: float
    light: float


def sample_pose(rng: np.random.Generator, ident: SynthVIIdentity, height: int,
                width: int, num_views: int, jitter: float) -> Pose:
    """Draw a per-image pose (view, shift, scale, stance, arm swing).

    Args:
        rng (np.random.Generator): The image's generator.
        ident (SynthVIIdentity): The person.
        height (int): Image height.
        width (int): Image width.
        num_views (int): 1 (front), 2 (+ back) or 3 (+ side).
        jitter (float): Multiplier of all jitter ranges.

    Returns:
        Pose: The pose.
    """
    view = int(rng.integers(num_views))
    facing = int(rng.choice([-1, 1]))
    r = rng.uniform(-1, 1, size=6)
    size = ident.height * height * (1 + 0.08 * jitter * r[0])
    cx = width / 2 + 0.08 * jitter * width * r[1]
    top = 0.5 * (height - size) + 0.02 * jitter * height * r[2]
    if view == SIDE:
        stance = (0.02 + 0.08 * jitter * abs(r[3])) * size * np.sign(r[3])
        arm = 0.45 * jitter * r[4]
    else:
        stance = (0.01 + 0.03 * jitter * (r[3] + 1) / 2) * size
        arm = 0.06 + 0.10 * jitter * (r[4] + 1) / 2
    return Pose(view, facing, float(cx), float(top), float(size),
                float(stance), float(arm), float(0.04 * size * r[5]))


def draw_background(canvas: LabelCanvas, rng: np.random.Generator,
                    horizon: float, num_clutter: int) -> None:
    """Paint the floor below ``horizon`` (a fraction of the height) and
    ``num_clutter`` random rectangles labelled ``CLUTTER0 + k``."""
    h, w = canvas.labels.shape
    canvas.labels[int(round(horizon * h)):] = FLOOR
    for k in range(num_clutter):
        r = rng.random(4)
        cw, ch = (0.1 + 0.4 * r[0]) * w, (0.05 + 0.35 * r[1]) * h
        x0, y0 = r[2] * (w - cw / 2) - cw / 4, r[3] * (h - ch)
        canvas.rect(CLUTTER0 + k, x0, y0, x0 + cw, y0 + ch)


def draw_person(canvas: LabelCanvas, ident: SynthVIIdentity,
                pose: Pose) -> None:
    """Paint one person's part labels onto ``canvas`` (painter's order)."""
    c, P, top, cx = canvas, pose.size, pose.top, pose.cx
    view, f = pose.view, pose.facing
    side = view == SIDE
    hr = ident.head * P
    head_cy = top + 1.1 * hr
    hrx, hry = hr * (0.95 if side else 0.85), hr * 1.1
    shoulder_y = top + 2.2 * hr + 0.03 * P
    ankle_y = top + 0.965 * P
    waist_y = shoulder_y + ident.torso_ratio * (ankle_y - shoulder_y)
    knee_y = waist_y + 0.5 * (ankle_y - waist_y)
    sw = ident.shoulder * P * (0.55 if side else 1.0)
    ww = sw * (0.9 if side else ident.waist)
    lw = ident.leg_width * P
    aw = 0.75 * lw
    hcx = cx + (0.02 * P * f if side else 0.0)
    # Bag side in image coordinates (a back view mirrors the person).
    bside = ident.bag_side * (-1 if view == BACK else 1)

    # Long hair behind the body (front view).
    if ident.hair == 'long' and view == FRONT:
        c.rect(HAIR, hcx - 1.1 * hrx, head_cy, hcx + 1.1 * hrx,
               shoulder_y + 0.09 * P)
    if side and ident.bag == 'backpack':
        c.rect(BAG, cx - f * (sw + 0.07 * P), shoulder_y + 0.02 * P,
               cx - f * 0.5 * sw, waist_y - 0.02 * P)
    # Legs.
    if side:
        hips = [(cx, cx - pose.stance), (cx, cx + pose.stance)]
    else:
        hips = [(cx + s * 0.5 * ww, cx + s * (0.5 * ww + pose.stance))
                for s in (-1, 1)]
    leg_lab = LOWER_A if ident.lower == 'trousers' else SKIN
    for hx, ax in hips:
        c.capsule(leg_lab, hx, waist_y, ax, ankle_y, lw)
        if ident.lower == 'shorts':  # down to just above the knee
            t = (knee_y - 0.03 * P - waist_y) / (ankle_y - waist_y)
            c.capsule(LOWER_A, hx, waist_y, hx + t * (ax - hx),
                      knee_y - 0.03 * P, lw * 1.15)
        c.ellipse(SHOES, ax + (0.4 * lw * f if side else 0.0),
                  ankle_y + 0.012 * P, lw * 1.25, 0.025 * P)
    if ident.lower == 'skirt':
        c.trapezoid(LOWER_A, waist_y - 0.01 * P, knee_y, cx, ww, cx,
                    ww * 1.45 + abs(pose.stance))
    else:
        c.trapezoid(LOWER_A, waist_y - 0.01 * P, waist_y + 0.07 * P, cx, ww,
                    cx, ww + 0.2 * lw)
    c.pattern(LOWER_A, LOWER_B, ident.lower_pattern, ident.lower_period,
              ident.lower_phase, cx, top, P, waist_y - 0.02 * P, ankle_y)

    # Arms behind (side view: far arm) and torso.
    arm_len = (waist_y - shoulder_y) + 0.06 * P
    elbow_t = 0.45 if ident.sleeve == 'short' else 1.0
    if side:  # one arm swings forward, the other (behind) backward
        far_arm = [_limb(cx, shoulder_y + aw, -f * pose.arm, arm_len)]
        near_arm = [_limb(cx, shoulder_y + aw, f * pose.arm, arm_len)]
    else:  # arms hang at the sides, abducted by pose.arm
        far_arm = []
        near_arm = [
            _limb(cx + s * (sw - aw), shoulder_y + aw, s * pose.arm, arm_len)
            for s in (-1, 1)
        ]
    for x0, y0, x1, y1 in far_arm:
        _draw_arm(c, x0, y0, x1, y1, aw, elbow_t)
    c.trapezoid(UPPER_A, shoulder_y - 0.01 * P, waist_y + 0.02 * P,
                cx + (0.01 * P * f if side else 0.0), sw, cx, ww)
    for x0, y0, x1, y1 in near_arm:
        _draw_arm(c, x0, y0, x1, y1, aw, elbow_t)
    c.pattern(
        UPPER_A, UPPER_B,
        'solid' if ident.upper_pattern == 'logo' else ident.upper_pattern,
        ident.upper_period, ident.upper_phase, cx, top, P,
        shoulder_y - 0.02 * P, waist_y + 0.03 * P)
    if ident.upper_pattern == 'logo' and view == FRONT:
        ly, lr = shoulder_y + 0.3 * (waist_y - shoulder_y), 0.045 * P
        if ident.logo_disc:
            c.ellipse(UPPER_B, cx, ly, lr, lr)
        else:
            c.rect(UPPER_B, cx - lr, ly - lr, cx + lr, ly + lr)

    # Neck, head, hair, hat.
    c.rect(SKIN, hcx - 0.45 * hrx, head_cy, hcx + 0.45 * hrx,
           shoulder_y + 0.005 * P)
    head_lab = HAIR if view == BACK and ident.hair != 'bald' else SKIN
    c.ellipse(head_lab, hcx, head_cy, hrx, hry)
    if ident.hair != 'bald' and view != BACK:
        if side:
            c.ellipse(HAIR, hcx - f * 0.35 * hrx, head_cy - 0.2 * hry,
                      0.85 * hrx, 0.85 * hry)
        else:
            c.ellipse(HAIR, hcx, head_cy - 0.45 * hry, 1.02 * hrx, 0.65 * hry)
    if ident.hair == 'long' and view != FRONT:
        x0 = hcx - (1.0 * hrx if view == BACK else
                    (1.2 * hrx if f > 0 else 0.1 * hrx))
        c.rect(HAIR, x0, head_cy, x0 + (2.0 if view == BACK else 1.1) * hrx,
               shoulder_y + 0.1 * P)
    if ident.hair == 'cap':
        c.ellipse(HAT, hcx, head_cy - 0.35 * hry, 1.05 * hrx, 0.7 * hry)
        if view != BACK:
            bx = hcx + (f * 0.9 * hrx if side else 0.0)
            c.rect(HAT, bx - (0.6 if side else 1.1) * hrx,
                   head_cy - 0.25 * hry, bx + (0.6 if side else 1.1) * hrx,
                   head_cy - 0.05 * hry)

    # Bags in front of the body.
    if ident.bag == 'backpack' and not side:
        if view == BACK:
            c.rect(BAG, cx - 0.75 * sw, shoulder_y + 0.02 * P, cx + 0.75 * sw,
                   waist_y - 0.01 * P)
        else:
            for s in (-1, 1):
                c.capsule(BAG, cx + s * 0.55 * sw, shoulder_y,
                          cx + s * 0.5 * sw,
                          shoulder_y + 0.6 * (waist_y - shoulder_y), 0.012 * P)
    elif ident.bag == 'shoulder':
        bx = cx + (0.3 * sw * -f if side else bside * (sw + 0.02 * P))
        c.capsule(BAG, cx - (0 if side else bside * 0.6 * sw), shoulder_y, bx,
                  waist_y, 0.011 * P)
        c.rect(BAG, bx - 0.06 * P, waist_y - 0.02 * P, bx + 0.06 * P,
               waist_y + 0.08 * P)
    elif ident.bag == 'handbag':
        if side:
            hx, hy = near_arm[0][2], near_arm[0][3]
        else:
            arm = near_arm[0 if bside < 0 else 1]
            hx, hy = arm[2], arm[3]
        c.rect(BAG, hx - 0.045 * P, hy + 0.01 * P, hx + 0.045 * P,
               hy + 0.11 * P)


def _limb(x0: float, y0: float, angle: float,
          length: float) -> tuple[float, float, float, float]:
    """``(x0, y0, x1, y1)`` of a limb hanging at ``angle`` from vertical."""
    return (x0, y0, x0 + math.sin(angle) * length,
            y0 + math.cos(angle) * length)


def _draw_arm(c: LabelCanvas, x0: float, y0: float, x1: float, y1: float,
              aw: float, elbow_t: float) -> None:
    """Arm from shoulder (x0, y0) to hand (x1, y1); sleeve to ``elbow_t``."""
    if elbow_t < 1:
        c.capsule(SKIN, x0, y0, x1, y1, aw * 0.85)
    c.capsule(UPPER_A, x0, y0, x0 + elbow_t * (x1 - x0),
              y0 + elbow_t * (y1 - y0), aw)
    c.ellipse(SKIN, x1, y1, aw * 1.05, aw * 1.2)
