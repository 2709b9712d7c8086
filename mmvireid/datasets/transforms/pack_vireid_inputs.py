"""Packing of a pipeline result into model inputs and a data sample."""
from typing import Sequence

from mmcv.transforms import BaseTransform
from mmpretrain.datasets.transforms import PackInputs

from mmvireid.registry import TRANSFORMS
from mmvireid.structures import VIReIDDataSample
from ..samplers.drawn_index import DRAWN_ID_KEYS


@TRANSFORMS.register_module()
class PackVIReIDInputs(BaseTransform):
    """Pack an image and its identity annotations for the model.

    Required keys: ``img``, ``pid``, ``camid``, ``modality``.
    Optional keys: ``role``, ``pseudo_label``, ``group_id`` and ``pair_id``
    (the batch ids of an index drawn by a batch sampler, see
    :class:`~mmvireid.datasets.CrossModalClusterSampler`; copied into the
    metainfo as ints whatever ``meta_keys`` says, absent when the results
    have none) and everything in ``meta_keys``.

    Args:
        meta_keys (Sequence[str]): Keys copied into the sample's metainfo.
            Defaults to ``('img_path', 'sample_idx', 'ori_shape',
            'img_shape')``.
    """

    def __init__(self,
                 meta_keys: Sequence[str] = ('img_path', 'sample_idx',
                                             'ori_shape', 'img_shape')):
        self.meta_keys = tuple(meta_keys)

    def transform(self, results: dict) -> dict:
        """Pack ``results`` into ``dict(inputs=Tensor, data_samples=...)``."""
        data_sample = VIReIDDataSample()
        data_sample.set_identity(results['pid'], results['camid'],
                                 results['modality'], results.get('role'))
        if 'pseudo_label' in results:
            data_sample.set_field(int(results['pseudo_label']), 'pseudo_label')
        data_sample.set_metainfo(
            {key: results[key]
             for key in self.meta_keys if key in results})
        data_sample.set_metainfo({
            key: int(results[key])
            for key in DRAWN_ID_KEYS if key in results
        })
        return dict(
            inputs=PackInputs.format_input(results['img']),
            data_samples=data_sample)

    def __repr__(self) -> str:
        return f'{self.__class__.__name__}(meta_keys={self.meta_keys})'
