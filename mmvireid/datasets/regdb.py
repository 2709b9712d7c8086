"""RegDB (Nguyen et al., Sensors 2017) with its 10 released train/test
trials."""
import os.path as osp
from typing import List, Tuple

from mmvireid.registry import DATASETS
from .base_vireid_dataset import BaseVIReIDDataset

DIRECTIONS = {
    'v2t': ('visible', 'thermal'),
    't2v': ('thermal', 'visible'),
}
MODALITY_OF = {'visible': 'visible', 'thermal': 'infrared'}
CAMERA_OF = {'visible': 1, 'thermal': 2}


def read_regdb_index(data_root: str, part: str, modality: str,
                     trial: int) -> Tuple[List[str], List[int]]:
    """Read ``idx/<part>_<modality>_<trial>.txt``.

    Each line is ``<path relative to the root> <integer label>``.

    Args:
        data_root (str): The ``RegDB`` folder.
        part (str): ``'train'`` or ``'test'``.
        modality (str): ``'visible'`` or ``'thermal'``.
        trial (int): 1..10.

    Returns:
        tuple: Absolute image paths and integer labels.
    """
    path = osp.join(data_root, 'idx', f'{part}_{modality}_{trial}.txt')
    if not osp.isfile(path):
        raise FileNotFoundError(
            f'RegDB index file {path!r} is missing; expected idx/'
            '{train,test}_{visible,thermal}_{1..10}.txt with lines '
            '"<relative image path> <integer label>"')
    paths, labels = [], []
    with open(path) as file:
        for line_no, line in enumerate(file, 1):
            if not line.strip():
                continue
            fields = line.split()
            if len(fields) != 2 or not fields[1].lstrip('-').isdigit():
                raise ValueError(
                    f'{path}:{line_no}: expected "<relative image path> '
                    f'<integer label>", got {line.rstrip()!r}')
            image = osp.join(data_root, fields[0])
            if not osp.isfile(image):
                raise FileNotFoundError(
                    f'{path}:{line_no} lists {image!r}, which does not exist')
            paths.append(image)
            labels.append(int(fields[1]))
    if not paths:
        raise ValueError(f'RegDB index file {path!r} lists no image')
    return paths, labels


@DATASETS.register_module()
class RegDB(BaseVIReIDDataset):
    """RegDB: 412 ids, 10 visible + 10 thermal images each.

    Expected tree::

        data_root/Visible/...  data_root/Thermal/...
        data_root/idx/{train,test}_{visible,thermal}_{1..10}.txt

    One model is trained per trial; the protocol reports the mean over
    trials 1..10 (``tools/analysis_tools/aggregate_trials.py``).

    Args:
        data_root (str): The ``RegDB`` folder.
        split (str): ``'train'``, ``'test'``, ``'query'`` or ``'gallery'``.
        trial (int): 1..10.
        direction (str): ``'v2t'`` (visible queries, thermal gallery) or
            ``'t2v'``.
        **kwargs: Other :class:`BaseVIReIDDataset` arguments.
    """

    def __init__(self,
                 data_root: str,
                 split: str = 'train',
                 trial: int = 1,
                 direction: str = 'v2t',
                 **kwargs) -> None:
        if trial not in range(1, 11):
            raise ValueError(f'RegDB trial must be in 1..10, got {trial!r}')
        if direction not in DIRECTIONS:
            raise ValueError(f'RegDB direction must be one of '
                             f'{sorted(DIRECTIONS)}, got {direction!r}')
        self.trial = trial
        self.direction = direction
        metainfo = dict(
            dataset_name='regdb',
            protocol='regdb',
            trial=trial,
            direction=direction,
            eval_prefix=f'regdb-{direction}')
        metainfo.update(kwargs.pop('metainfo', None) or {})
        super().__init__(data_root, split, metainfo=metainfo, **kwargs)

    def _read(self, part: str, modality: str, role: str) -> List[dict]:
        paths, labels = read_regdb_index(self.data_root, part, modality,
                                         self.trial)
        return self.make_infos(paths, labels,
                               [CAMERA_OF[modality]] * len(paths),
                               MODALITY_OF[modality], role)

    def load_split(self) -> dict:
        """Build the data infos of ``self.split``."""
        if not osp.isdir(self.data_root):
            raise FileNotFoundError(
                f'RegDB root {self.data_root!r} does not exist; expected a '
                'folder holding Visible/, Thermal/ and idx/')
        if self.split == 'train':
            return dict(
                data_list=self._read('train', 'visible', 'train') +
                self._read('train', 'thermal', 'train'))
        query_side, gallery_side = DIRECTIONS[self.direction]
        if self.split == 'query':
            return dict(data_list=self._read('test', query_side, 'query'))
        gallery = self._read('test', gallery_side, 'gallery')
        if self.split == 'gallery':
            return dict(data_list=gallery)
        query = self._read('test', query_side, 'query')
        return dict(
            data_list=query + gallery,
            query_indices=range(len(query)),
            gallery_trials=[range(len(query),
                                  len(query) + len(gallery))])
