"""SYSU-MM01 (Wu et al., ICCV 2017), read from its released folder layout."""
import warnings
from typing import Optional, Sequence

from mmengine.logging import print_log

from mmvireid.registry import DATASETS
from .base_vireid_dataset import BaseVIReIDDataset
from .sysu_splits import (process_gallery_sysu, process_query_sysu,
                          process_train_sysu)

# (train ids, visible train images, infrared train images, query images)
OFFICIAL_SYSU_COUNTS = (395, 22258, 11909, 3803)


@DATASETS.register_module()
class SYSUMM01(BaseVIReIDDataset):
    """SYSU-MM01 with the community evaluation protocol.

    Expected tree::

        data_root/cam1..cam6/<4-digit id>/<image>    # cam3, cam6 infrared
        data_root/exp/{train,val,test}_id.txt        # one line of ids

    Ids may also be given one per line (any mix of commas and whitespace);
    every listed id needs a folder in at least one camera.

    Args:
        data_root (str): The ``SYSU-MM01`` folder.
        split (str): ``'train'``, ``'test'``, ``'query'`` or ``'gallery'``.
        mode (str): ``'all'`` (all-search) or ``'indoor'``.
        trials (Sequence[int]): Gallery trials of the ``'test'`` split
            (the protocol averages trials 0..9).
        trial (int): The trial of the ``'gallery'`` split.
        shot (int): Gallery images per (id, camera): 1 (single-shot) or 10
            (multi-shot).
        check_counts (bool): Warn when the training set or the query set
            does not have the official sizes, which means the data was
            prepared wrongly. Defaults to True.
        **kwargs: Other :class:`BaseVIReIDDataset` arguments.
    """

    expected_counts: Optional[tuple] = OFFICIAL_SYSU_COUNTS
    dataset_name = 'sysu'

    def __init__(self,
                 data_root: str,
                 split: str = 'train',
                 mode: str = 'all',
                 trials: Sequence[int] = tuple(range(10)),
                 trial: int = 0,
                 shot: int = 1,
                 check_counts: bool = True,
                 **kwargs) -> None:
        self.mode = mode
        self.trials = tuple(trials)
        self.trial = trial
        self.shot = shot
        self.check_counts = check_counts
        if not self.trials:
            raise ValueError('trials must name at least one gallery trial')
        metainfo = dict(
            dataset_name=self.dataset_name,
            protocol='sysu',
            mode=mode,
            eval_prefix=f'{self.dataset_name}-{mode}')
        metainfo.update(kwargs.pop('metainfo', None) or {})
        super().__init__(data_root, split, metainfo=metainfo, **kwargs)

    def load_split(self) -> dict:
        """Build the data infos of ``self.split`` (see class docstring)."""
        root = self.data_root
        if self.split == 'train':
            visible, infrared = process_train_sysu(root)
            self._check_train_counts(visible, infrared)
            return dict(
                data_list=self.make_infos(*visible, 'visible', 'train') +
                self.make_infos(*infrared, 'infrared', 'train'))
        query = process_query_sysu(root, self.mode)
        if self.split == 'query':
            return dict(data_list=self.make_infos(*query, 'infrared', 'query'))
        if self.split == 'gallery':
            gallery = process_gallery_sysu(root, self.mode, self.trial,
                                           self.shot)
            return dict(
                data_list=self.make_infos(*gallery, 'visible', 'gallery'))
        self._check_query_count(query)
        data_list = self.make_infos(*query, 'infrared', 'query')
        index_of_path = {}
        gallery_trials = []
        for trial in self.trials:
            paths, pids, cams = process_gallery_sysu(root, self.mode, trial,
                                                     self.shot)
            indices = []
            for path, pid, cam in zip(paths, pids, cams):
                if path not in index_of_path:
                    index_of_path[path] = len(data_list)
                    data_list += self.make_infos([path], [pid], [cam],
                                                 'visible', 'gallery')
                indices.append(index_of_path[path])
            gallery_trials.append(indices)
        if not any(gallery_trials):
            raise ValueError(f'SYSU-MM01 at {root!r}: the test ids have no '
                             'visible image, so the gallery is empty')
        return dict(
            data_list=data_list,
            query_indices=range(len(query[0])),
            gallery_trials=gallery_trials)

    def _warn(self, what: str, found: tuple, expected: tuple) -> None:
        message = (f'{type(self).__name__} at {self.data_root!r}: {what} '
                   f'{" / ".join(map(str, found))} but the official '
                   f'SYSU-MM01 has {" / ".join(map(str, expected))}. The '
                   'dataset is incomplete or was prepared wrongly; results '
                   'will not be comparable with published numbers.')
        warnings.warn(message, stacklevel=2)
        print_log(message, logger='current', level=30)

    def _check_train_counts(self, visible: tuple, infrared: tuple) -> None:
        if not (self.check_counts and self.expected_counts):
            return
        found = (len(set(visible[1]) | set(infrared[1])), len(visible[0]),
                 len(infrared[0]))
        if found != self.expected_counts[:3]:
            self._warn('the training set has ids / visible / infrared', found,
                       self.expected_counts[:3])

    def _check_query_count(self, query: tuple) -> None:
        if not (self.check_counts and self.expected_counts):
            return
        if len(query[0]) != self.expected_counts[3]:
            self._warn('the query set has', (len(query[0]), ),
                       self.expected_counts[3:])
