"""The generic ReID model: backbone, neck, optional training head."""
from typing import Dict, List, Optional, Union

import torch
import torch.nn.functional as F
from mmengine.model import BaseModel

from mmvireid.registry import MODELS
from mmvireid.structures import (PseudoLabelConsumer, PseudoLabels,
                                 VIReIDDataSample)


@MODELS.register_module()
class ReIDer(PseudoLabelConsumer, BaseModel):
    """Backbone + neck feature extractor with an optional training head.

    ``predict`` writes each image's retrieval feature into its data sample
    (``pred_feature``); with ``test_cfg=dict(flip=True)`` (default) it is
    the mean of the features of the image and its horizontal mirror, as in
    every VI-ReID evaluation. Normalisation is left to the metric.

    Args:
        backbone (dict): Backbone config, e.g. ``dict(type='mmpretrain.
            ResNet', depth=50)``. Backbones return a tuple of stages; the
            last one is used. A backbone that declares the capability
            ``takes_modalities = True`` (a class attribute, e.g.
            :class:`~mmvireid.models.MultiStreamBackbone`) is called as
            ``backbone(inputs, modalities=[...])`` with each image's
            modality name (``sample.modality``) whenever data samples are
            given; any other backbone as ``backbone(inputs)``.
        neck (dict, optional): Neck pooling the last stage to ``(N, C)``;
            without one, feature maps are global-average pooled.
        head (dict, optional): Training head, ``head.loss(feats,
            data_samples) -> dict``. Required for training only.
        data_preprocessor (dict, optional): Defaults to
            :class:`~mmvireid.models.VIReIDDataPreprocessor` with ImageNet
            mean/std and BGR→RGB.
        test_cfg (dict, optional): ``flip`` (bool) for flip averaging.
        init_cfg (dict, optional): Initialisation config.
    """

    def __init__(self,
                 backbone: dict,
                 neck: Optional[dict] = None,
                 head: Optional[dict] = None,
                 data_preprocessor: Optional[dict] = None,
                 test_cfg: Optional[dict] = None,
                 init_cfg: Optional[dict] = None) -> None:
        if data_preprocessor is None:
            data_preprocessor = dict(
                type='VIReIDDataPreprocessor',
                mean=[123.675, 116.28, 103.53],
                std=[58.395, 57.12, 57.375],
                bgr_to_rgb=True)
        super().__init__(
            data_preprocessor=data_preprocessor, init_cfg=init_cfg)
        self.backbone = MODELS.build(backbone)
        self.neck = MODELS.build(neck) if neck is not None else None
        self.head = MODELS.build(head) if head is not None else None
        self.test_cfg = dict(flip=True)
        self.test_cfg.update(test_cfg or {})

    def extract_map(
            self,
            inputs: torch.Tensor,
            data_samples: Optional[List[VIReIDDataSample]] = None
    ) -> torch.Tensor:
        """Last backbone stage, ``(N, C, H, W)`` (before the neck).

        A backbone with ``takes_modalities = True`` (a multi-stream
        backbone) receives each image's modality name from
        ``data_samples``; without data samples it runs its default.
        """
        if self.backbone_takes_modalities and data_samples is not None:
            feats = self.backbone(
                inputs, modalities=self._modalities(data_samples))
        else:
            feats = self.backbone(inputs)
        if isinstance(feats, (tuple, list)):
            feats = feats[-1]
        return feats

    @property
    def backbone_takes_modalities(self) -> bool:
        """bool: Whether the backbone declares ``takes_modalities``."""
        return bool(getattr(self.backbone, 'takes_modalities', False))

    @staticmethod
    def _modalities(data_samples: List[VIReIDDataSample]) -> List[str]:
        """The modality name of each data sample (``sample.modality``)."""
        names = []
        for i, sample in enumerate(data_samples):
            if 'modality' not in sample:
                raise ValueError(
                    f'data sample {i} has no modality: the backbone routes '
                    'images by modality, so every data sample needs one')
            names.append(sample.modality)
        return names

    def pool(self, feat_map: torch.Tensor) -> torch.Tensor:
        """Global feature ``(N, C)`` of a feature map, through the neck
        (its last output, e.g. the BN feature of a BNNeck) or global average
        pooling without one."""
        feats = self.neck(feat_map) if self.neck is not None else feat_map
        if isinstance(feats, (tuple, list)):
            feats = feats[-1]
        if feats.dim() == 4:
            feats = F.adaptive_avg_pool2d(feats, 1)
        return feats.flatten(1)

    def extract_feat(
            self,
            inputs: torch.Tensor,
            data_samples: Optional[List[VIReIDDataSample]] = None
    ) -> torch.Tensor:
        """Global feature of each image, shape ``(N, C)``."""
        return self.pool(self.extract_map(inputs, data_samples))

    def forward(self,
                inputs: torch.Tensor,
                data_samples: Optional[List[VIReIDDataSample]] = None,
                mode: str = 'tensor') -> Union[Dict, List, torch.Tensor]:
        """Dispatch to :meth:`loss`, :meth:`predict` or feature extraction.

        ``'tensor'`` returns :meth:`extract_feat` of the images, with the
        data samples (so each image goes through its modality's stem).

        Args:
            inputs (Tensor): Images, ``(N, 3, H, W)``.
            data_samples (list[VIReIDDataSample], optional): Annotations.
            mode (str): ``'loss'``, ``'predict'`` or ``'tensor'``.
        """
        if mode == 'loss':
            return self.loss(inputs, data_samples)
        if mode == 'predict':
            return self.predict(inputs, data_samples)
        if mode == 'tensor':
            return self.extract_feat(inputs, data_samples)
        raise ValueError(f'invalid forward mode {mode!r}; expected '
                         "'loss', 'predict' or 'tensor'")

    def loss(self, inputs: torch.Tensor,
             data_samples: List[VIReIDDataSample]) -> Dict[str, torch.Tensor]:
        """Training losses computed by the head.

        A head with ``uses_feature_maps = True`` (e.g. SALCR's, whose part
        branch attends over the map) also receives the last backbone stage
        as ``feat_maps``.
        """
        if self.head is None:
            raise ValueError(f'{type(self).__name__} has no head: set '
                             'model.head in the config to train it')
        feat_map = self.extract_map(inputs, data_samples)
        feats = self.pool(feat_map)
        if getattr(self.head, 'uses_feature_maps', False):
            return self.head.loss(feats, data_samples, feat_maps=feat_map)
        return self.head.loss(feats, data_samples)

    def set_pseudo_labels(self, pseudo_labels: PseudoLabels) -> None:
        """Hand new pseudo-labels to every sub-module that takes them.

        Each sub-module that is a :class:`~mmvireid.structures.
        PseudoLabelConsumer` (heads, prompt learners...) receives the same
        object once, in module order; none forwards it further.
        """
        for module in self.modules():
            if module is not self and isinstance(module, PseudoLabelConsumer):
                module.set_pseudo_labels(pseudo_labels)

    def predict(
        self,
        inputs: torch.Tensor,
        data_samples: Optional[List[VIReIDDataSample]] = None
    ) -> List[VIReIDDataSample]:
        """Attach the (flip-averaged) retrieval feature to each sample.

        With ``test_cfg['part_features']`` (set by ``ClusteringHook`` when
        the memories need them) and a head with ``part_features``, each
        sample also gets ``pred_part_feature`` ``(P, C)``, flip-averaged
        too (the stripes are horizontal, so a mirror keeps them).
        """
        with_parts = bool(self.test_cfg.get('part_features')) and hasattr(
            self.head, 'part_features')
        views = [inputs, inputs.flip(3)] if self.test_cfg['flip'] else [inputs]
        feats, parts = 0, 0
        for view in views:
            feat_map = self.extract_map(view, data_samples)
            feats = feats + self.pool(feat_map)
            if with_parts:
                parts = parts + self.head.part_features(feat_map)
        feats = feats / len(views)
        if data_samples is None:
            data_samples = [VIReIDDataSample() for _ in range(len(feats))]
        for i, (sample, feat) in enumerate(zip(data_samples, feats)):
            sample.set_field(feat, 'pred_feature')
            if with_parts:
                sample.set_field(parts[i] / len(views), 'pred_part_feature')
        return data_samples
