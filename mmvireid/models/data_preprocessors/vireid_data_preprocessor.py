"""Batching of single- and multi-view ReID samples."""
from typing import List

import torch
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
    views and modalities by masks, not by positions. Images of one size are
    stacked on the host first, so the batch is copied to the device and
    normalised once.

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
        if self.pad_size_divisor == 1 and flat_inputs and all(
                x.shape == flat_inputs[0].shape for x in flat_inputs[1:]):
            return self._stacked_forward(data)
        return super().forward(data, training)

    def _stacked_forward(self, data: dict) -> dict:
        """Images of one size as one ``(N, C, H, W)`` tensor: one
        host-to-device copy and one normalisation of the batch instead of
        one per image. The element-wise arithmetic of the parent's
        per-image path (channel flip, ``float``, ``(x - mean) / std``), so
        the same values; no padding is needed."""
        data = self.cast_data(dict(data, inputs=torch.stack(data['inputs'])))
        inputs = data['inputs']
        if self._channel_conversion:
            inputs = inputs[:, [2, 1, 0], ...]
        inputs = inputs.float()
        if self._enable_normalize:
            inputs = (inputs - self.mean) / self.std
        data['inputs'] = inputs
        data.setdefault('data_samples', None)
        return data
