"""Batching of single- and multi-view ReID samples."""
from typing import List

from mmengine.model import ImgDataPreprocessor

from mmvireid.registry import MODELS


@MODELS.register_module()
class VIReIDDataPreprocessor(ImgDataPreprocessor):
    """``ImgDataPreprocessor`` that also accepts several views per image.

    A pipeline may give a sample several views (e.g. a visible image and its
    channel-augmented copy, produced by ``mmpretrain.MultiView``): its
    ``inputs`` is then a list of tensors. The batch is flattened into one
    tensor: first the first view of every sample in batch order, then every
    second view, and so on. Each row gets its own data sample (a copy for
    extra views) whose metainfo ``view`` is the view index, so models select
    views and modalities by masks, not by positions.

    Args:
        **kwargs: :class:`mmengine.model.ImgDataPreprocessor` arguments
            (``mean``, ``std``, ``bgr_to_rgb``...).
    """

    def forward(self, data: dict, training: bool = False) -> dict:
        """Flatten the views, then normalise and stack like the parent."""
        inputs = data['inputs']
        samples = data.get('data_samples')
        views = [x if isinstance(x, (list, tuple)) else [x] for x in inputs]
        flat_inputs: List = []
        flat_samples: List = []
        for view in range(max(len(v) for v in views)):
            for i, sample_views in enumerate(views):
                if view >= len(sample_views):
                    continue
                flat_inputs.append(sample_views[view])
                if samples is not None:
                    sample = samples[i] if view == 0 else samples[i].clone()
                    sample.set_metainfo(dict(view=view))
                    flat_samples.append(sample)
        data = dict(data, inputs=flat_inputs)
        if samples is not None:
            data['data_samples'] = flat_samples
        return super().forward(data, training)
