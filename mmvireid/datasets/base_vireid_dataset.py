"""Base class of the visible-infrared ReID datasets."""
from abc import abstractmethod
from typing import Any, List, Optional, Sequence

import numpy as np
from mmengine.dataset import BaseDataset

from mmvireid.structures import MODALITIES
from .samplers.drawn_index import drawn_ids

SPLITS = ('train', 'test', 'query', 'gallery')


class BaseVIReIDDataset(BaseDataset):
    """A list of person images, each with ``pid``, ``camid``, ``modality``.

    Splits:

    - ``'train'``: training images of both modalities (``role='train'``).
      The true ``pid`` is kept for diagnostics (cluster purity, association
      accuracy); unsupervised methods train on pseudo labels only.
    - ``'test'``: the evaluation set: queries, then every gallery image of
      every trial (each image once). ``metainfo['query_indices']`` and
      ``metainfo['gallery_trials']`` (one ordered index list per trial) tell
      :class:`~mmvireid.evaluation.VIReIDMetric` how to split it, so
      features are extracted once however many trials there are.
    - ``'query'`` / ``'gallery'``: one side only (one trial's gallery).

    Subclasses implement :meth:`load_split`, returning the data infos and the
    evaluation index lists.

    An index drawn by a batch sampler
    (:class:`~mmvireid.datasets.samplers.DrawnIndex`) puts its
    ``group_id`` and ``pair_id`` into the sample's results (for
    :class:`~mmvireid.datasets.transforms.PackVIReIDInputs`); a plain int
    gives none.

    Args:
        data_root (str): Dataset root folder.
        split (str): One of ``'train'``, ``'test'``, ``'query'``,
            ``'gallery'``.
        pipeline (Sequence): Transforms applied to each sample.
        test_mode (bool, optional): Defaults to ``split != 'train'``.
        **kwargs: Other :class:`mmengine.dataset.BaseDataset` arguments.
    """

    def __init__(self,
                 data_root: str,
                 split: str = 'train',
                 pipeline: Sequence = (),
                 test_mode: Optional[bool] = None,
                 **kwargs) -> None:
        if split not in SPLITS:
            raise ValueError(f'split must be one of {SPLITS}, got {split!r}')
        self.split = split
        # strings passed as `metainfo` would be taken for meta files by
        # BaseDataset; descriptive entries are added in load_data_list
        self._extra_metainfo = dict(kwargs.pop('metainfo', None) or {})
        if test_mode is None:
            test_mode = split != 'train'
        super().__init__(
            data_root=data_root,
            pipeline=list(pipeline),
            test_mode=test_mode,
            **kwargs)

    @abstractmethod
    def load_split(self) -> dict:
        """Read the dataset files of ``self.split``.

        Returns:
            dict: ``data_list`` (list of dicts with ``img_path``, ``pid``,
            ``camid``, ``modality`` and ``role``), and for ``'test'`` also
            ``query_indices`` and ``gallery_trials``.
        """

    def load_data_list(self) -> List[dict]:
        """Load the split and record its evaluation layout in metainfo."""
        split = self.load_split()
        data_list = split['data_list']
        if not data_list:
            raise ValueError(f'{type(self).__name__} at {self.data_root!r} '
                             f'has no image in split {self.split!r}')
        for info in data_list:
            if info['modality'] not in MODALITIES:
                raise ValueError(f'bad modality {info["modality"]!r} for '
                                 f'{info["img_path"]}')
        # the declared modalities: what the engine loops over (clustering,
        # memories, samplers); a config may declare more (e.g. a virtual
        # modality added by a transform) through `metainfo`
        self._metainfo.update(modalities=MODALITIES)
        self._metainfo.update(self._extra_metainfo, split=self.split)
        if 'query_indices' in split:
            self._metainfo.update(
                query_indices=list(split['query_indices']),
                gallery_trials=[list(t) for t in split['gallery_trials']])
        return data_list

    def prepare_data(self, idx: int) -> Any:
        """The pipeline's output for sample ``idx``, with the batch ids of
        a drawn index (``sample_idx`` stays a plain int).

        Args:
            idx (int | DrawnIndex): Index of the sample.

        Returns:
            Any: What the pipeline returns (None for a dropped sample).
        """
        data_info = self.get_data_info(int(idx))
        data_info.update(drawn_ids(idx))
        return self.pipeline(data_info)

    @staticmethod
    def make_infos(paths: Sequence[str], pids: Sequence[int],
                   cams: Sequence[int], modality: str,
                   role: str) -> List[dict]:
        """Build data infos from parallel path / id / camera lists."""
        return [
            dict(
                img_path=path,
                pid=int(pid),
                camid=int(cam),
                modality=modality,
                role=role) for path, pid, cam in zip(paths, pids, cams)
        ]

    def get_pids(self) -> np.ndarray:
        """True identity of every sample (diagnostics and evaluation)."""
        return np.array(
            [self.get_data_info(i)['pid'] for i in range(len(self))])

    @property
    def modalities(self) -> tuple:
        """The declared modalities (metainfo ``modalities``), in order."""
        return tuple(self.metainfo['modalities'])

    def get_modalities(self) -> np.ndarray:
        """Modality string of every sample."""
        return np.array(
            [self.get_data_info(i)['modality'] for i in range(len(self))])
