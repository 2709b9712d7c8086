"""Print the image and identity counts of a prepared dataset.

Compare them with the official numbers to catch a wrongly prepared copy::

    python tools/dataset_converters/check_dataset.py sysu data/sysu
    python tools/dataset_converters/check_dataset.py regdb data/regdb
"""
import argparse
import sys
from typing import Optional, Sequence

from mmvireid.datasets import SYSUMM01, RegDB, process_gallery_sysu
from mmvireid.datasets.sysu_mm01 import OFFICIAL_SYSU_COUNTS

REGDB_OFFICIAL = dict(train=(206, 2060, 2060), test=(206, 2060, 2060))


def describe(dataset) -> tuple:
    """``(ids, visible images, infrared images)`` of a dataset split."""
    modalities = dataset.get_modalities()
    return (len(set(dataset.get_pids())), int(
        (modalities == 'visible').sum()), int(
            (modalities == 'infrared').sum()))


def check_sysu(root: str) -> bool:
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
    return report(rows)


def check_regdb(root: str) -> bool:
    rows = []
    for trial in range(1, 11):
        for split in ('train', 'test'):
            found = describe(RegDB(root, split=split, trial=trial))
            rows.append((f'trial {trial} {split} ids / visible / thermal',
                         found, REGDB_OFFICIAL[split]))
    return report(rows)


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
    args = parser.parse_args(argv)
    check = check_sysu if args.dataset == 'sysu' else check_regdb
    return 0 if check(args.root) else 1


if __name__ == '__main__':
    sys.exit(main())
