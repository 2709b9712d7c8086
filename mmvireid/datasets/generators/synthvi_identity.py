"""Per-identity attributes and per-camera scenes of SynthVI.

Every random draw of SynthVI comes from its own ``numpy.random.SeedSequence``
so that any identity, camera or image can be produced alone, in any order:

- identity ``pid``: ``SeedSequence([seed, pid])`` (:func:`sample_identity`)
- its (camera -> image count) plan: ``SeedSequence([seed, pid, 7])``
  (:mod:`.synthvi_plan`)
- camera ``cam``'s scene: ``SeedSequence([seed, 0, cam])`` (pids start at 1)
- image ``index`` of ``cam``: ``SeedSequence([seed, pid, cam, index])``
  (:mod:`.synthvi_render`; ``index`` starts at 1)

SeedSequence pads entropy with zeros, so no key above ends with a zero that
could make it collide with a shorter one.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .synthvi_config import SynthVIConfig

#: Garment colour vocabulary (name, RGB in [0, 1]); the first
#: ``SynthVIConfig.num_colors`` entries are used. A small vocabulary stops
#: colour from being a per-identity shortcut (see docs/synthvi.md).
COLOR_VOCABULARY: tuple[tuple[str, tuple[float, float, float]], ...] = (
    ('black', (0.09, 0.09, 0.10)),
    ('white', (0.90, 0.90, 0.88)),
    ('red', (0.75, 0.12, 0.12)),
    ('blue', (0.14, 0.26, 0.68)),
    ('green', (0.16, 0.52, 0.22)),
    ('yellow', (0.90, 0.78, 0.16)),
    ('grey', (0.50, 0.50, 0.52)),
    ('brown', (0.45, 0.29, 0.16)),
    ('pink', (0.90, 0.56, 0.66)),
    ('navy', (0.10, 0.13, 0.34)),
    ('orange', (0.92, 0.50, 0.12)),
    ('purple', (0.45, 0.22, 0.55)),
    ('beige', (0.80, 0.72, 0.56)),
    ('cyan', (0.20, 0.68, 0.76)),
)

# Person part labels of the label map (0 and >= 10 are background).
SKIN, HAIR, UPPER_A, UPPER_B, LOWER_A, LOWER_B, SHOES, BAG, HAT = range(1, 10)
WALL, FLOOR, CLUTTER0 = 0, 10, 11
NUM_PERSON_LABELS = 9

UPPER_PATTERNS = ('solid', 'hstripes', 'vstripes', 'checks', 'diagonal',
                  'logo')
UPPER_PATTERN_P = (0.3, 0.15, 0.1, 0.15, 0.1, 0.2)
LOWER_PATTERNS = ('solid', 'hstripes', 'vstripes', 'checks', 'diagonal')
LOWER_PATTERN_P = (0.55, 0.1, 0.15, 0.15, 0.05)
_HAIR_TONES = np.array(
    [[0.08, 0.07, 0.06], [0.25, 0.16, 0.10], [0.42, 0.28, 0.16],
     [0.75, 0.62, 0.38], [0.60, 0.60, 0.60]], np.float32)
_SKIN_LIGHT = np.array([0.95, 0.78, 0.66], np.float32)
_SKIN_DARK = np.array([0.40, 0.27, 0.19], np.float32)


def seeded_rng(*keys: int) -> np.random.Generator:
    """A generator seeded by ``SeedSequence(list(keys))``."""
    return np.random.default_rng(np.random.SeedSequence(list(keys)))


@dataclass(frozen=True, eq=False)
class SynthVIIdentity:
    """Appearance of one synthetic person (lengths in person heights).

    Args:
        pid (int): Identity number.
        height (float): Person height / image height at pose scale 1.
        shoulder (float): Shoulder half-width.
        waist (float): Waist half-width / shoulder half-width.
        head (float): Head radius.
        torso_ratio (float): Torso length / (torso + legs).
        leg_width (float): Leg half-width.
        sleeve (str): ``'short'`` or ``'long'``.
        lower (str): ``'trousers'``, ``'shorts'`` or ``'skirt'``.
        hair (str): ``'short'``, ``'long'``, ``'bald'`` or ``'cap'``.
        bag (str): ``'none'``, ``'backpack'``, ``'shoulder'`` or
            ``'handbag'``.
        bag_side (int): -1 (image left in front view) or +1.
        upper_pattern (str): One of ``UPPER_PATTERNS``.
        upper_period (float): Pattern period.
        upper_phase (float): Pattern phase in periods.
        lower_pattern (str): One of ``LOWER_PATTERNS``.
        lower_period (float): Pattern period.
        lower_phase (float): Pattern phase in periods.
        logo_disc (bool): Round (True) or square chest logo.
        colors (np.ndarray): (9, 3) float32 RGB of labels SKIN..HAT.
        color_names (tuple[str, ...]): Vocabulary names of upper A/B,
            lower A/B, bag and hat colours.
        thermal (np.ndarray): (9,) float32 thermal value of labels SKIN..HAT.
    """

    pid: int
    height: float
    shoulder: float
    waist: float
    head: float
    torso_ratio: float
    leg_width: float
    sleeve: str
    lower: str
    hair: str
    bag: str
    bag_side: int
    upper_pattern: str
    upper_period: float
    upper_phase: float
    lower_pattern: str
    lower_period: float
    lower_phase: float
    logo_disc: bool
    colors: np.ndarray
    color_names: tuple[str, ...]
    thermal: np.ndarray


def sample_identity(cfg: SynthVIConfig, pid: int) -> SynthVIIdentity:
    """Draw the attributes of identity ``pid`` from
    ``SeedSequence([cfg.seed, pid])``.

    Args:
        cfg (SynthVIConfig): Generator parameters.
        pid (int): Identity number (>= 1).

    Returns:
        SynthVIIdentity: The identity's attributes.
    """
    rng = seeded_rng(cfg.seed, pid)
    u = rng.uniform
    body = dict(
        height=u(0.80, 0.92),
        shoulder=u(0.10, 0.14),
        waist=u(0.74, 0.92),
        head=u(0.056, 0.072),
        torso_ratio=u(0.36, 0.46),
        leg_width=u(0.030, 0.046))
    sleeve = ('short', 'long')[int(rng.random() < 0.5)]
    lower = str(rng.choice(['trousers', 'shorts', 'skirt'], p=[.6, .2, .2]))
    hair = str(
        rng.choice(['short', 'long', 'bald', 'cap'], p=[.45, .3, .1, .15]))
    bag = str(
        rng.choice(['none', 'backpack', 'shoulder', 'handbag'],
                   p=[.35, .3, .2, .15]))
    bag_side = int(rng.choice([-1, 1]))
    upper_pattern = str(rng.choice(UPPER_PATTERNS, p=UPPER_PATTERN_P))
    upper_period, upper_phase = u(0.05, 0.12), u(0, 2)
    lower_pattern = str(rng.choice(LOWER_PATTERNS, p=LOWER_PATTERN_P))
    lower_period, lower_phase = u(0.05, 0.12), u(0, 2)
    logo_disc = bool(rng.random() < 0.5)

    n = cfg.num_colors
    upper_a, upper_b = rng.choice(n, size=2, replace=False)
    lower_a, lower_b = rng.choice(n, size=2, replace=False)
    bag_c, hat_c = rng.integers(n, size=2)
    names = tuple(COLOR_VOCABULARY[i][0]
                  for i in (upper_a, upper_b, lower_a, lower_b, bag_c, hat_c))
    vocab = np.array([c for _, c in COLOR_VOCABULARY], np.float32)
    skin = _SKIN_LIGHT + rng.random() * (_SKIN_DARK - _SKIN_LIGHT)
    hair_rgb = _HAIR_TONES[rng.choice(5, p=[.4, .25, .15, .1, .1])]
    hair_rgb = hair_rgb + rng.normal(0, 0.03, 3)
    if rng.random() < 0.2:  # white sneakers
        shoes = np.full(3, u(0.75, 0.92))
    else:
        shoes = u(0.05, 0.45) + rng.normal(0, 0.03, 3)
    colors = np.stack([
        skin, hair_rgb, vocab[upper_a], vocab[upper_b], vocab[lower_a],
        vocab[lower_b], shoes, vocab[bag_c], vocab[hat_c]
    ]).clip(0, 1).astype(np.float32)

    upper_t, lower_t = u(0.35, 0.70), u(0.30, 0.65)
    thermal = np.array([
        u(0.78, 0.95),
        u(0.45, 0.62), upper_t, upper_t + rng.normal(0, 0.03), lower_t,
        lower_t + rng.normal(0, 0.03),
        u(0.20, 0.40),
        u(0.15, 0.45),
        u(0.30, 0.55)
    ], np.float32).clip(0, 1)
    return SynthVIIdentity(
        pid=pid,
        sleeve=sleeve,
        lower=lower,
        hair=hair,
        bag=bag,
        bag_side=bag_side,
        upper_pattern=upper_pattern,
        upper_period=upper_period,
        upper_phase=upper_phase,
        lower_pattern=lower_pattern,
        lower_period=lower_period,
        lower_phase=lower_phase,
        logo_disc=logo_disc,
        colors=colors,
        color_names=names,
        thermal=thermal,
        **body)


@dataclass(frozen=True, eq=False)
class CameraScene:
    """Scene and sensor of one camera.

    Args:
        cam (int): Camera number (1..6).
        wall (np.ndarray): (3,) RGB wall colour.
        floor (np.ndarray): (3,) RGB floor colour.
        horizon (float): Wall/floor boundary as a fraction of the height.
        cast (np.ndarray): (3,) per-channel gain x brightness (visible).
        wall_thermal (float): Thermal value of the wall (cool).
        floor_thermal (float): Thermal value of the floor.
        ir_gain (float): IR sensor gain.
        ir_offset (float): IR sensor offset.
        ir_blur (float): IR blur sigma (pixels).
        ir_noise (float): IR noise std.
    """

    cam: int
    wall: np.ndarray
    floor: np.ndarray
    horizon: float
    cast: np.ndarray
    wall_thermal: float
    floor_thermal: float
    ir_gain: float
    ir_offset: float
    ir_blur: float
    ir_noise: float


def _hsv_to_rgb(h: float, s: float, v: float) -> np.ndarray:
    k = (np.array([5.0, 3.0, 1.0]) + h * 6.0) % 6.0
    return (v - v * s * np.clip(np.minimum(k, 4.0 - k), 0, 1)).astype(
        np.float32)


def sample_camera(cfg: SynthVIConfig, cam: int) -> CameraScene:
    """Draw camera ``cam``'s scene from ``SeedSequence([cfg.seed, 0, cam])``.

    Args:
        cfg (SynthVIConfig): Generator parameters.
        cam (int): Camera number (1..6).

    Returns:
        CameraScene: The camera's scene and sensor parameters.
    """
    rng = seeded_rng(cfg.seed, 0, cam)
    u = rng.uniform
    wall = _hsv_to_rgb(u(0, 1), u(0.05, 0.35), u(0.35, 0.80))
    floor = _hsv_to_rgb(u(0, 1), u(0.0, 0.20), u(0.20, 0.60))
    horizon = u(0.70, 0.88)
    cast = 1 + rng.normal(0, cfg.visible_cast_strength, 3)
    brightness = 1 + u(-1, 1) * cfg.visible_brightness_range
    return CameraScene(
        cam=cam,
        wall=wall,
        floor=floor,
        horizon=horizon,
        cast=(cast * brightness).clip(0.2, 3).astype(np.float32),
        wall_thermal=u(0.08, 0.22),
        floor_thermal=u(0.12, 0.30),
        ir_gain=1 + u(-1, 1) * cfg.ir_gain_range,
        ir_offset=u(-1, 1) * cfg.ir_offset_range,
        ir_blur=cfg.ir_blur_sigma * u(0.8, 1.2),
        ir_noise=cfg.ir_noise_std * u(0.75, 1.25))
