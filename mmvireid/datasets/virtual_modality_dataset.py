"""A training set with an extra, virtual modality made from a real one."""
import copy
from typing import List, Sequence

import numpy as np
from mmengine.dataset import Compose
from torch.utils.data import Dataset

from mmvireid.registry import DATASETS
from .samplers.drawn_index import drawn_ids, same_slot


@DATASETS.register_module()
class VirtualModalityDataset(Dataset):
    """Add a virtual modality: a transformed copy of every image of a real
    one (e.g. channel-augmented visible images as an ``'augmented'``
    modality, the third modality of the multi-module collaborative
    framework).

    Indices ``0..N-1`` are the wrapped dataset's samples, unchanged; index
    ``N + j`` is a virtual sample made from the ``j``-th sample of
    ``source`` (dataset order): the same image and true identity, modality
    ``name``, and ``pipeline`` instead of the wrapped dataset's. The
    metainfo declares ``modalities`` + ``(name,)``, so the clustering hook,
    the memories and the sampler treat the virtual modality as any other
    (its own clusters, memory and P×K blocks); the backbone's stem table
    says which stem it goes through. An index drawn by a batch sampler
    (:class:`~mmvireid.datasets.samplers.DrawnIndex`) keeps its
    ``group_id`` / ``pair_id`` on both kinds of samples.

    Args:
        dataset (dict | Dataset): The training set (a
            :class:`~mmvireid.datasets.BaseVIReIDDataset` config or object).
        source (str): The real modality the virtual one is made from.
        name (str): Name of the virtual modality.
        pipeline (Sequence[dict]): Pipeline of the virtual samples (e.g.
            load, channel augmentation, resize, pack).
    """

    def __init__(self, dataset, source: str, name: str,
                 pipeline: Sequence[dict]) -> None:
        self.dataset = DATASETS.build(dataset) if isinstance(dataset,
                                                             dict) else dataset
        modalities = tuple(self.dataset.metainfo['modalities'])
        if source not in modalities:
            raise ValueError(f'VirtualModalityDataset: source {source!r} is '
                             f'not a modality of the dataset {modalities}')
        if name in modalities:
            raise ValueError(f'VirtualModalityDataset: {name!r} is already a '
                             f'modality of the dataset {modalities}')
        self.source, self.name = source, name
        self.pipeline = Compose(list(pipeline))
        real = self.dataset.get_modalities()
        self.source_indices: List[int] = np.flatnonzero(
            real == source).tolist()
        if not self.source_indices:
            raise ValueError(f'VirtualModalityDataset: the dataset has no '
                             f'{source!r} image to make {name!r} from')
        self._metainfo = dict(
            copy.deepcopy(self.dataset.metainfo),
            modalities=modalities + (name, ))

    @property
    def metainfo(self) -> dict:
        """The wrapped dataset's metainfo with the virtual modality."""
        return copy.deepcopy(self._metainfo)

    @property
    def modalities(self) -> tuple:
        """The declared modalities, the virtual one last."""
        return tuple(self._metainfo['modalities'])

    def __len__(self) -> int:
        return len(self.dataset) + len(self.source_indices)

    def _check(self, idx: int) -> int:
        if not -len(self) <= idx < len(self):
            raise IndexError(f'VirtualModalityDataset: index {idx} out of '
                             f'range for {len(self)} samples')
        return idx % len(self)

    def get_data_info(self, idx: int) -> dict:
        """Annotations of sample ``idx`` (virtual ones: the source image's,
        with modality ``name`` and their own ``sample_idx``)."""
        idx = self._check(idx)
        if idx < len(self.dataset):
            return self.dataset.get_data_info(idx)
        info = self.dataset.get_data_info(
            self.source_indices[idx - len(self.dataset)])
        info.update(modality=self.name, sample_idx=idx)
        return info

    def __getitem__(self, idx: int) -> dict:
        pos = self._check(idx)
        if pos < len(self.dataset):
            return self.dataset[same_slot(idx, pos)]
        info = self.get_data_info(pos)
        info.update(drawn_ids(idx))
        return self.pipeline(info)

    def get_pids(self) -> np.ndarray:
        """True identity of every sample (diagnostics and evaluation)."""
        return np.array(
            [self.get_data_info(i)['pid'] for i in range(len(self))])

    def get_view_sources(self) -> np.ndarray:
        """For every sample, the index of the sample it is a view of:
        ``-1`` for the wrapped dataset's samples, the source image's index
        for each virtual one (``PseudoLabels.view_sources``)."""
        return np.concatenate([
            np.full(len(self.dataset), -1, dtype=np.int64),
            np.asarray(self.source_indices, dtype=np.int64)
        ])

    def get_modalities(self) -> np.ndarray:
        """Modality name of every sample."""
        return np.concatenate([
            self.dataset.get_modalities(),
            np.array([self.name] * len(self.source_indices))
        ])
