"""Decode the evaluation images before training, not after it."""
import time
from typing import Any, List, Optional, Sequence, Tuple

from mmcv.transforms import LoadImageFromFile
from mmengine.dist import all_gather_object, get_dist_info
from mmengine.hooks import Hook
from mmengine.logging import print_log
from mmengine.runner import BaseLoop, Runner
from torch.utils.data import DataLoader

from mmvireid.datasets.image_verification import (format_bad_images,
                                                  verify_images)
from mmvireid.registry import DATASETS, HOOKS

SPLITS = ('val', 'test')


@HOOKS.register_module()
class ImageCheckHook(Hook):
    """Before training, decode every image of the val and test datasets.

    A corrupt, truncated, empty or missing evaluation image otherwise fails
    the run at its final evaluation, after all training. This hook decodes
    each image of the runner's val dataset and test dataset once, with the
    loading transform of that dataset's pipeline (so a reported file is one
    that would fail to load), in a thread pool, and raises an error listing
    every bad file when there is one.

    - val: the dataset of the val loop (built by ``Runner.train`` before
      the hooks' ``before_train``).
    - test: the dataset of the test loop if it was built; otherwise, when
      ``test_dataloader``'s dataset config differs from ``val_dataloader``'s
      (mmvireid's configs make them the same), the dataset is built from
      it to read its data list. A split the runner does not have is skipped.

    In a distributed run each rank decodes its share of the images and all
    ranks raise the same error. It runs first (priority ``'VERY_HIGH'``),
    before the label-pipeline hooks extract features.
    ``configs/_base_/default_runtime.py`` registers it as the custom hook
    ``check_images``; ``custom_hooks = dict(check_images=None)`` turns it
    off.

    Args:
        splits (Sequence[str]): Which of ``'val'`` and ``'test'`` to check.
            Defaults to both.
        num_workers (int, optional): Decoding threads per process. Defaults
            to the CPU count, at most 8.
        show_progress (bool): Progress bar (rank 0). Defaults to True.
    """

    priority = 'VERY_HIGH'

    def __init__(self,
                 splits: Sequence[str] = SPLITS,
                 num_workers: Optional[int] = None,
                 show_progress: bool = True) -> None:
        if isinstance(splits, str):
            splits = (splits, )
        unknown = [s for s in splits if s not in SPLITS]
        if unknown:
            raise ValueError(f'ImageCheckHook: splits must be among {SPLITS}'
                             f', got {list(splits)!r}')
        if num_workers is not None and (isinstance(num_workers, bool)
                                        or not isinstance(num_workers, int)
                                        or num_workers < 0):
            raise ValueError('ImageCheckHook: num_workers must be an int >= '
                             f'0 or None, got {num_workers!r}')
        self.splits = tuple(splits)
        self.num_workers = num_workers
        self.show_progress = show_progress

    def before_train(self, runner: Runner) -> None:
        """Decode the images of the val / test datasets.

        Raises:
            RuntimeError: Some image cannot be loaded; the message names
                the split, the dataset and every bad file with its reason.
        """
        for names, dataset in self._datasets(runner):
            self.check_dataset(dataset, names)

    def check_dataset(self, dataset: Any, split: str) -> int:
        """Decode every image of ``dataset``; raise if one fails.

        Args:
            dataset (Dataset): A dataset whose data infos hold ``img_path``.
            split (str): Its name in messages, e.g. ``'val/test'``.

        Returns:
            int: The number of distinct images checked.

        Raises:
            RuntimeError: See :meth:`before_train`.
        """
        paths = list(dict.fromkeys(_image_paths(dataset)))
        rank, world_size = get_dist_info()
        start = time.perf_counter()
        bad = verify_images(
            paths[rank::world_size],
            num_workers=self.num_workers,
            progress=self.show_progress and rank == 0,
            loader=_loader_of(dataset))
        if world_size > 1:
            bad = [item for part in all_gather_object(bad) for item in part]
            order = {path: i for i, path in enumerate(paths)}
            bad.sort(key=lambda item: order[item[0]])
        where = f'{type(dataset).__name__} at ' \
                f'{getattr(dataset, "data_root", "?")!r}'
        if bad:
            raise RuntimeError(
                f'ImageCheckHook: {len(bad)} of {len(paths)} images of the '
                f'{split} split ({where}) cannot be loaded; replace or remove'
                ' them before training (tools/dataset_converters/'
                'check_dataset.py --verify-images checks a whole tree):\n' +
                format_bad_images(bad))
        print_log(
            f'ImageCheckHook: {len(paths)} images of the {split} split '
            f'({where}) decoded in {time.perf_counter() - start:.1f} s: all '
            'load',
            logger='current')
        return len(paths)

    def _datasets(self, runner: Runner) -> List[Tuple[str, Any]]:
        """``(split names, dataset)`` of each distinct dataset to check."""
        found: List[Tuple[str, Any]] = []
        val_cfg = getattr(runner, '_val_dataloader', None)
        if 'val' in self.splits and getattr(runner, '_val_loop',
                                            None) is not None:
            found.append(('val', runner.val_loop.dataloader.dataset))
        if 'test' in self.splits:
            test = _test_dataset(runner)
            if isinstance(test, dict):  # a config, the test loop not built
                if found and isinstance(val_cfg, dict) and \
                        test == val_cfg.get('dataset'):
                    found[0] = ('val/test', found[0][1])
                    test = None
                else:
                    test = DATASETS.build(test)
            if test is not None:
                found.append(('test', test))
        if not found:
            print_log(
                f'ImageCheckHook: the runner has no {"/".join(self.splits)} '
                'dataset; nothing to check',
                logger='current')
        return found


def _test_dataset(runner: Runner) -> Any:
    """The test dataset, its config (dict), or None without one."""
    if isinstance(getattr(runner, '_test_loop', None), BaseLoop):
        return runner.test_loop.dataloader.dataset
    loader = getattr(runner, '_test_dataloader', None)
    if isinstance(loader, DataLoader):
        return loader.dataset
    if isinstance(loader, dict) and loader.get('dataset') is not None:
        return loader['dataset']
    return None


def _image_paths(dataset: Any) -> List[str]:
    """``img_path`` of every data info of ``dataset``."""
    if not hasattr(dataset, 'get_data_info'):
        raise TypeError(
            f'ImageCheckHook: {type(dataset).__name__} has no get_data_info'
            "(), so its images cannot be listed; remove the 'check_images' "
            'hook or give the split a dataset with data infos')
    infos = (dataset.get_data_info(i) for i in range(len(dataset)))
    return [info['img_path'] for info in infos if 'img_path' in info]


def _loader_of(dataset: Any) -> Optional[LoadImageFromFile]:
    """The first image-loading transform of the dataset's pipeline (or of
    the dataset it wraps), or None for the default loader."""
    while dataset is not None:
        for transform in getattr(
                getattr(dataset, 'pipeline', None), 'transforms', ()):
            if isinstance(transform, LoadImageFromFile):
                return transform
        dataset = getattr(dataset, 'dataset', None)
    return None
