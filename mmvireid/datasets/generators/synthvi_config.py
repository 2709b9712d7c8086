"""Parameters of the SynthVI generator and its presets."""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Mapping

#: Bump whenever the same parameters would produce different pixels, ids or
#: files; a cached tree with another version is not reused.
SYNTHVI_GENERATOR_VERSION = '1.0.0'

#: Largest allowed ``ir_luminance_coupling``. IR intensity is
#: ``c * visible_luminance + (1 - c) * thermal``; keeping ``c <= 0.85`` keeps
#: at least 15% of every IR pixel independent of the visible colours, so the
#: infrared modality can never be recovered exactly from the visible one.
MAX_IR_LUMINANCE_COUPLING = 0.85

#: Visible and infrared camera numbers of the SYSU-MM01 layout.
VISIBLE_CAMERAS = (1, 2, 4, 5)
INFRARED_CAMERAS = (3, 6)


@dataclass(frozen=True)
class SynthVIConfig:
    """Every knob of the SynthVI generator.

    All fields take part in the cache key stored in the manifest: two trees
    with equal fields (and generator version) are byte-identical.

    Args:
        seed (int): Master seed. Identity ``pid`` draws its attributes from
            ``SeedSequence([seed, pid])`` and image ``index`` of camera
            ``cam`` from ``SeedSequence([seed, pid, cam, index])``.
        num_train_ids (int): Identities listed in ``exp/train_id.txt``.
        num_val_ids (int): Identities listed in ``exp/val_id.txt`` (SYSU
            trains on train + val). At least 1: SYSU-MM01 readers reject an
            empty split file.
        num_test_ids (int): Identities listed in ``exp/test_id.txt``.
        images_per_visible_cam (int): Mean images per (id, visible camera).
        images_per_ir_cam (int): Mean images per (id, infrared camera).
        images_per_cam_jitter (int): Each (id, camera) count is the mean
            plus a uniform integer in ``[-jitter, jitter]`` (at least 1).
        camera_dropout (float): Probability that an identity is absent from
            a camera. Every id keeps at least one visible and one infrared
            camera; every test id keeps cam1 or cam2, and cam1 whenever it
            has cam3 (cam2 is removed from cam3 queries by the protocol).
        height (int): Written image height in pixels.
        width (int): Written image width in pixels.
        jpeg_quality (int): JPEG quality (1-100).
        ir_luminance_coupling (float): ``c`` in
            ``IR = c * luminance + (1 - c) * thermal``; must lie in
            ``[0, MAX_IR_LUMINANCE_COUPLING]``.
        num_colors (int): Size of the garment colour vocabulary (named
            colours, see ``COLOR_VOCABULARY``).
        color_jitter (float): Std of the per-image jitter added to every
            colour (RGB in [0, 1]).
        num_views (int): 1 = front only, 2 = front/back, 3 = front/back/side.
        pose_jitter (float): Multiplier of the per-image shift, scale,
            stance and arm-swing ranges (0 = every image in the same pose).
        max_clutter (int): Background clutter rectangles per image are
            uniform in ``[0, max_clutter]``.
        background_jitter (float): Std of the per-image jitter of a camera's
            wall and floor colours.
        shading (float): Strength of the horizontal body shading.
        visible_noise_std (float): Gaussian pixel noise of visible images.
        visible_blur_sigma (float): Gaussian blur of visible images (pixels).
        visible_cast_strength (float): Std of the per-camera, per-channel
            colour gain of visible cameras.
        visible_brightness_range (float): Per-camera brightness is uniform
            in ``1 +- range``.
        ir_noise_std (float): Gaussian pixel noise of infrared images
            (scaled per camera by a factor in [0.75, 1.25]).
        ir_blur_sigma (float): Gaussian blur of infrared images (scaled per
            camera by a factor in [0.8, 1.2]).
        ir_gain_range (float): Per-camera IR gain is uniform in
            ``1 +- range``.
        ir_offset_range (float): Per-camera IR offset is uniform in
            ``+- range``.
    """

    seed: int = 0
    num_train_ids: int = 200
    num_val_ids: int = 10
    num_test_ids: int = 96
    images_per_visible_cam: int = 5
    images_per_ir_cam: int = 6
    images_per_cam_jitter: int = 1
    camera_dropout: float = 0.05
    height: int = 128
    width: int = 64
    jpeg_quality: int = 95
    ir_luminance_coupling: float = 0.8
    num_colors: int = 7
    color_jitter: float = 0.03
    num_views: int = 3
    pose_jitter: float = 1.0
    max_clutter: int = 2
    background_jitter: float = 0.04
    shading: float = 0.3
    visible_noise_std: float = 0.02
    visible_blur_sigma: float = 0.5
    visible_cast_strength: float = 0.06
    visible_brightness_range: float = 0.15
    ir_noise_std: float = 0.03
    ir_blur_sigma: float = 0.8
    ir_gain_range: float = 0.15
    ir_offset_range: float = 0.06

    def __post_init__(self) -> None:
        # Store float knobs as floats so that manifests are canonical.
        for field in dataclasses.fields(self):
            value = getattr(self, field.name)
            if (isinstance(field.default, float) and isinstance(value, int)
                    and not isinstance(value, bool)):
                object.__setattr__(self, field.name, float(value))
        self.validate()

    def validate(self) -> None:
        """Check every field.

        Raises:
            ValueError: If a field is out of its range, naming the field.
        """
        from .synthvi_identity import COLOR_VOCABULARY

        def check(name: str, ok: bool, what: str) -> None:
            if not ok:
                raise ValueError(
                    f'SynthVIConfig.{name}={getattr(self, name)!r}'
                    f' is invalid: {what}')

        for name in ('seed', 'num_train_ids', 'num_val_ids', 'num_test_ids',
                     'images_per_visible_cam', 'images_per_ir_cam',
                     'images_per_cam_jitter', 'height', 'width',
                     'jpeg_quality', 'num_colors', 'num_views', 'max_clutter'):
            value = getattr(self, name)
            check(name,
                  isinstance(value, int) and not isinstance(value, bool),
                  'must be an int')
        check('seed', 0 <= self.seed < 2**63, 'must be in [0, 2**63)')
        check('num_train_ids', self.num_train_ids >= 1, 'must be >= 1')
        check('num_val_ids', self.num_val_ids >= 1,
              'must be >= 1 (SYSU-MM01 readers reject an empty val_id.txt)')
        check('num_test_ids', self.num_test_ids >= 1, 'must be >= 1')
        total = self.num_train_ids + self.num_val_ids + self.num_test_ids
        check('num_test_ids', total <= 9999,
              'train + val + test ids must fit 4-digit folders (<= 9999)')
        check('images_per_visible_cam', self.images_per_visible_cam >= 1,
              'must be >= 1')
        check('images_per_ir_cam', self.images_per_ir_cam >= 1, 'must be >= 1')
        check('images_per_cam_jitter', self.images_per_cam_jitter >= 0,
              'must be >= 0')
        check('camera_dropout', 0.0 <= self.camera_dropout < 1.0,
              'must be in [0, 1)')
        check('height', self.height >= 32, 'must be >= 32')
        check('width', self.width >= 16, 'must be >= 16')
        check('jpeg_quality', 1 <= self.jpeg_quality <= 100,
              'must be in [1, 100]')
        check(
            'ir_luminance_coupling',
            0.0 <= self.ir_luminance_coupling <= MAX_IR_LUMINANCE_COUPLING,
            f'must be in [0, {MAX_IR_LUMINANCE_COUPLING}] so that at least '
            f'{1 - MAX_IR_LUMINANCE_COUPLING:.0%} of the IR intensity is '
            'independent of visible luminance')
        check('num_colors', 2 <= self.num_colors <= len(COLOR_VOCABULARY),
              f'must be in [2, {len(COLOR_VOCABULARY)}]')
        check('num_views', 1 <= self.num_views <= 3, 'must be 1, 2 or 3')
        check('max_clutter', 0 <= self.max_clutter <= 16, 'must be in [0, 16]')
        for name in ('color_jitter', 'pose_jitter', 'background_jitter',
                     'visible_noise_std', 'visible_blur_sigma',
                     'visible_cast_strength', 'ir_noise_std', 'ir_blur_sigma',
                     'ir_offset_range'):
            value = getattr(self, name)
            check(name,
                  isinstance(value, (int, float)) and value >= 0,
                  'must be a number >= 0')
        check('pose_jitter', self.pose_jitter <= 3, 'must be <= 3')
        check('visible_blur_sigma', self.visible_blur_sigma <= 5,
              'must be <= 5')
        check('ir_blur_sigma', self.ir_blur_sigma <= 5, 'must be <= 5')
        check('shading', 0 <= self.shading < 1, 'must be in [0, 1)')
        check('visible_brightness_range',
              0 <= self.visible_brightness_range < 1, 'must be in [0, 1)')
        check('ir_gain_range', 0 <= self.ir_gain_range < 1,
              'must be in [0, 1)')

    def to_dict(self) -> dict[str, Any]:
        """Return the fields as a plain (JSON-serialisable) dict."""
        return dataclasses.asdict(self)


#: Named parameter sets. ``hard`` couples IR less to visible luminance and
#: adds noise, blur, clutter, pose jitter and stronger camera effects.
SYNTHVI_PRESETS: dict[str, SynthVIConfig] = {
    'default':
    SynthVIConfig(),
    'hard':
    SynthVIConfig(
        ir_luminance_coupling=0.5,
        color_jitter=0.05,
        pose_jitter=1.5,
        max_clutter=4,
        background_jitter=0.08,
        visible_noise_std=0.04,
        visible_cast_strength=0.12,
        visible_brightness_range=0.3,
        ir_noise_std=0.06,
        ir_blur_sigma=1.4,
        ir_gain_range=0.3,
        ir_offset_range=0.12),
}


def resolve_synthvi_config(cfg: SynthVIConfig | str | Mapping[str, Any]
                           | None = None,
                           **overrides: Any) -> SynthVIConfig:
    """Build a config from a config, a preset name or a dict, plus overrides.

    Args:
        cfg (SynthVIConfig | str | Mapping | None): A config, the name of a
            preset in ``SYNTHVI_PRESETS``, a dict of fields (an optional
            ``'preset'`` key picks the base) or None for the default preset.
        **overrides: Fields to replace; ``preset=NAME`` picks the base
            preset when ``cfg`` is None.

    Returns:
        SynthVIConfig: The validated config.

    Raises:
        ValueError: For an unknown preset or field, or an invalid value.
    """
    preset = overrides.pop('preset', None)
    if preset is not None:
        if cfg is not None:
            raise ValueError('Pass either cfg or preset, not both')
        cfg = str(preset)
    if cfg is None:
        cfg = SYNTHVI_PRESETS['default']
    elif isinstance(cfg, str):
        if cfg not in SYNTHVI_PRESETS:
            raise ValueError(f'Unknown SynthVI preset {cfg!r}; choose one of '
                             f'{sorted(SYNTHVI_PRESETS)}')
        cfg = SYNTHVI_PRESETS[cfg]
    elif isinstance(cfg, Mapping):
        fields = dict(cfg)
        base = resolve_synthvi_config(fields.pop('preset', None))
        overrides = {**fields, **overrides}
        cfg = base
    elif not isinstance(cfg, SynthVIConfig):
        raise TypeError('cfg must be a SynthVIConfig, a preset name, a dict '
                        f'or None, not {type(cfg).__name__}')
    if not overrides:
        return cfg
    known = {f.name for f in dataclasses.fields(SynthVIConfig)}
    unknown = sorted(set(overrides) - known)
    if unknown:
        raise ValueError(f'Unknown SynthVI parameter(s) {unknown}; valid '
                         f'parameters are {sorted(known)}')
    return dataclasses.replace(cfg, **overrides)
