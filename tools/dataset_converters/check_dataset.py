"""Print the image and identity counts of a prepared dataset.

Compare them with the official numbers to catch a wrongly prepared copy;
``--verify-images`` also decodes every image (in parallel) and lists every
file that cannot be loaded::

    python tools/dataset_converters/check_dataset.py sysu data/sysu
    python tools/dataset_converters/check_dataset.py regdb data/regdb
    python tools/dataset_converters/check_dataset.py sysu data/sysu \
        --verify-images --workers 4

Exits 1 when a count differs from the official release or an image is bad.
"""
import argparse
import sys
import time
from typing import List, Optional, Sequence, Tuple

from mmvireid.datasets import SYSUMM01, RegDB, process_gallery_sysu
from mmvireid.datasets.image_verification import (format_bad_images,
                                                  verify_images)
from mmvireid.datasets.sysu_mm01 import OFFICIAL_SYSU_COUNTS
from mmvireid.datasets.sysu_splits import list_sysu_images

REGDB_OFFICIAL = dict(train=(206, 2060, 2060), test=(206, 2060, 2060))


def describe(dataset) -> tuple:
    """``(ids, visible images, infrared images)`` of a dataset split."""
    modalities = dataset.get_modalities()
    return (len(set(dataset.get_pids())), int(
        (modalities == 'visible').sum()), int(
            (modalities == 'infrared').sum()))


def check_sysu(root: str) -> Tuple[bool, List[str]]:
    """Counts of a SYSU-MM01 tree, and every image of its listed ids."""
    train = describe(SYSUMM01(root, split='train', check_counts=False))
    query = SYSUMM01(root, split='query', check_counts=False)
    rows = [('train ids / visible / infrared', train,
             OFFICIAL_SYSU_COUNTS[:3]),
            ('query images', (len(query), ), OFFICIAL_SYSU_COUNTS[3:])]
    for mode, official in (('all', 301), ('indoor', 112)):
        sizes = {
            len(process_gallery_sysu(root, mode, t)[0])
            for t in range(10)
        }
        rows.append((f'{mode}-search gallery (10 trials)',
                     tuple(sorted(sizes)), (official, )))
    return report(rows), list_sysu_images(root)


def check_regdb(root: str) -> Tuple[bool, List[str]]:
    """Counts of a RegDB tree, and every image its 10 trials list."""
    rows, paths = [], {}
    for trial in range(1, 11):
        for split in ('train', 'test'):
            dataset = RegDB(root, split=split, trial=trial)
            found = describe(dataset)
            rows.append((f'trial {trial} {split} ids / visible / thermal',
                         found, REGDB_OFFICIAL[split]))
            paths.update(
                dict.fromkeys(
                    dataset.get_data_info(i)['img_path']
                    for i in range(len(dataset))))
    return report(rows), list(paths)


def check_images(paths: Sequence[str], num_workers: Optional[int]) -> bool:
    """Decode every image; print each bad one. True if all load."""
    start = time.perf_counter()
    bad = verify_images(paths, num_workers=num_workers)
    seconds = time.perf_counter() - start
    if not bad:
        print(f'all {len(paths)} images decode ({seconds:.1f} s)')
        return True
    print(f'{len(bad)} of {len(paths)} images cannot be loaded '
          f'({seconds:.1f} s):')
    print(format_bad_images(bad))
    return False


def report(rows) -> bool:
    ok = True
    for what, found, official in rows:
        flag = 'ok' if tuple(found) == tuple(official) else 'MISMATCH'
        ok &= flag == 'ok'
        print(f'{what:45s} {" / ".join(map(str, found)):>24s}   official '
              f'{" / ".join(map(str, official)):>20s}   {flag}')
    print('all counts match the official release' if ok else
          'some counts differ from the official release: the dataset is '
          'incomplete or was prepared wrongly')
    return ok


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('dataset', choices=['sysu', 'regdb'])
    parser.add_argument('root', help='dataset root folder')
    parser.add_argument(
        '--verify-images',
        action='store_true',
        help='also decode every image and list all that cannot be loaded')
    parser.add_argument(
        '--workers',
        type=int,
        default=None,
        help='decoding threads for --verify-images (default: the CPU '
        'count, at most 8)')
    args = parser.parse_args(argv)
    if args.workers is not None and args.workers < 0:
        parser.error(f'--workers must be >= 0, got {args.workers}')
    check = check_sysu if args.dataset == 'sysu' else check_regdb
    ok, paths = check(args.root)
    if args.verify_images:
        ok &= check_images(paths, args.workers)
    return 0 if ok else 1


if __name__ == '__main__':
    sys.exit(main())
