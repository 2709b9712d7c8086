"""Procedural dataset generators (SynthVI)."""
from .synthvi_config import (MAX_IR_LUMINANCE_COUPLING,
                             SYNTHVI_GENERATOR_VERSION, SYNTHVI_PRESETS,
                             SynthVIConfig, resolve_synthvi_config)
from .synthvi_generator import (MANIFEST_NAME, ensure_synthvi,
                                generate_synthvi, load_synthvi_manifest)
from .synthvi_identity import (COLOR_VOCABULARY, SynthVIIdentity,
                               sample_camera, sample_identity)
from .synthvi_plan import synthvi_image_plan, synthvi_split_ids
from .synthvi_render import render_sample

__all__ = [
    'SynthVIConfig', 'SYNTHVI_PRESETS', 'SYNTHVI_GENERATOR_VERSION',
    'MAX_IR_LUMINANCE_COUPLING', 'MANIFEST_NAME', 'COLOR_VOCABULARY',
    'SynthVIIdentity', 'generate_synthvi', 'ensure_synthvi',
    'load_synthvi_manifest', 'resolve_synthvi_config', 'render_sample',
    'sample_identity', 'sample_camera', 'synthvi_split_ids',
    'synthvi_image_plan'
]
