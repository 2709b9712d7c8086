"""Generate the SynthVI dataset (SYSU-MM01 layout) into a folder.

Examples::

    python tools/dataset_converters/generate_synthvi.py data/synthvi
    python tools/dataset_converters/generate_synthvi.py data/synthvi_hard \
        --preset hard --seed 1 --num-test-ids 200

Without ``--force`` an existing tree with the same parameters is reused and
one with other parameters is an error; ``--force`` replaces an existing
SynthVI tree (never a folder without a SynthVI manifest).
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from pathlib import Path

try:
    from mmvireid.datasets.generators import (SYNTHVI_PRESETS, SynthVIConfig,
                                              ensure_synthvi, generate_synthvi,
                                              load_synthvi_manifest)
except ImportError:  # running from a source checkout without installing
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
    from mmvireid.datasets.generators import (SYNTHVI_PRESETS, SynthVIConfig,
                                              ensure_synthvi, generate_synthvi,
                                              load_synthvi_manifest)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Parse the command line; every SynthVIConfig field is an option."""
    parser = argparse.ArgumentParser(
        description='Generate SynthVI, procedural visible/infrared '
        'pedestrians in the SYSU-MM01 layout.')
    parser.add_argument('out_dir', help='root of the generated tree')
    parser.add_argument(
        '--preset',
        default='default',
        choices=sorted(SYNTHVI_PRESETS),
        help='base parameter set (options below override it)')
    defaults = SYNTHVI_PRESETS['default']
    for field in dataclasses.fields(SynthVIConfig):
        value = getattr(defaults, field.name)
        parser.add_argument(
            '--' + field.name.replace('_', '-'),
            dest=field.name,
            type=type(value),
            default=None,
            help=f'(default preset: {value})')
    parser.add_argument(
        '--num-workers',
        type=int,
        default=0,
        help='worker processes (0 = in process; output does not depend on '
        'it)')
    parser.add_argument(
        '--force',
        action='store_true',
        help='replace an existing SynthVI tree at OUT_DIR')
    parser.add_argument(
        '--quiet', action='store_true', help='no progress messages')
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    """Run the generator and print the counts of the tree."""
    args = parse_args(argv)
    overrides = {
        field.name: getattr(args, field.name)
        for field in dataclasses.fields(SynthVIConfig)
        if getattr(args, field.name) is not None
    }
    kwargs = dict(
        show_progress=not args.quiet,
        num_workers=args.num_workers,
        preset=args.preset,
        **overrides)
    start = time.perf_counter()
    if args.force and load_synthvi_manifest(args.out_dir) is not None:
        manifest = generate_synthvi(args.out_dir, overwrite=True, **kwargs)
    else:
        manifest = ensure_synthvi(args.out_dir, **kwargs)
    elapsed = time.perf_counter() - start
    counts = manifest['counts']
    print(f'SynthVI {manifest["generator_version"]} at {args.out_dir} '
          f'({elapsed:.1f} s)')
    print(f'ids: train {counts["ids"]["train"]}, val {counts["ids"]["val"]},'
          f' test {counts["ids"]["test"]}')
    print(f'images: {counts["images"]["total"]} '
          f'(visible {counts["images"]["visible"]}, '
          f'infrared {counts["images"]["infrared"]})')
    print(f'training set (train + val): {counts["train"]["ids"]} ids, '
          f'{counts["train"]["visible"]} visible + '
          f'{counts["train"]["infrared"]} infrared images')
    test = counts['test']
    print(f'test: {test["ids"]} ids, query {test["query"]} infrared images,'
          f' single-shot gallery {test["gallery_all_single_shot"]} (all) / '
          f'{test["gallery_indoor_single_shot"]} (indoor, '
          f'{test["indoor_ids"]} ids)')
    print('counts: ' + json.dumps(counts))


if __name__ == '__main__':
    main()
