"""The generic ReID model: backbone, neck, optional training head."""
from typing import Dict, List, Optional, Sequence, Tuple, Union

import torch
import torch.nn.functional as F
from mmengine.model import BaseModel
from mmengine.optim import OptimWrapper, OptimWrapperDict

from mmvireid.registry import MODELS
from mmvireid.structures import (PseudoLabelConsumer, PseudoLabels,
                                 VIReIDDataSample)
from ..utils.joint_train_step import joint_train_step
from ..utils.label_rows import write_labels
from ..utils.schedule_aware import ScheduleAware


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
            without one, feature maps are global-average pooled. A neck
            that declares ``provided_features`` (e.g. MCF's
            :class:`~mmvireid.models.PACBAMNeck`: ``'refined_map'``,
            ``'channel_weights'``) gives them, with ``'global'``, from one
            pass of its ``forward_features(map) -> dict``.
        head (dict, optional): Training head: ``head.loss(feats,
            data_samples) -> dict`` with ``feats`` the dict of the names
            it declares in ``required_features`` (:meth:`extract`); it may
            declare ``label_features`` (what the label pipeline extracts)
            and compute ``provided_features`` (``provide_feature``).
            Required for training only.
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
        # the current pseudo-labels, by dataset index (set_pseudo_labels)
        self._labels: Optional[torch.Tensor] = None
        self._cross_labels: Optional[torch.Tensor] = None

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

    @property
    def neck_features(self) -> Tuple[str, ...]:
        """The named features the neck provides besides ``'global'``
        (its ``provided_features``; none for a plain pooling neck)."""
        return tuple(getattr(self.neck, 'provided_features', ()))

    @property
    def provided_features(self) -> Tuple[str, ...]:
        """Every feature name :meth:`extract` computes: ``'global'``,
        ``'map'``, those the neck provides (e.g. ``'channel_weights'``) and
        those the head provides (e.g. ``'parts'``)."""
        return ('global', 'map') + self.neck_features + tuple(
            getattr(self.head, 'provided_features', ()))

    @property
    def label_features(self) -> Tuple[str, ...]:
        """The features the label pipeline extracts of the training set:
        those the head declares (``head.label_features``), at least
        ``'global'``."""
        names = tuple(getattr(self.head, 'label_features', ('global', )))
        return names if 'global' in names else ('global', ) + names

    def extract(
        self,
        inputs: torch.Tensor,
        data_samples: Optional[List[VIReIDDataSample]] = None,
        names: Sequence[str] = ('global', )
    ) -> Dict[str, torch.Tensor]:
        """The named features of a batch, as a dict.

        One backbone pass gives ``'map'`` (the last backbone stage,
        ``(N, C, H, W)``) and ``'global'`` (:meth:`pool` of it, ``(N, D)``);
        a neck with named features gives them and ``'global'`` in one pass
        (``neck.forward_features(map)``) whenever anything but ``'map'`` is
        asked for, so the head can build on them; any other name is
        computed by the head that provides it (``head.provide_feature(name,
        feats)``, e.g. FGSAL's ``'parts'`` ``(N, P, C)``). Heads declare what they read
        (``head.required_features``) and the label pipeline what it needs
        (:attr:`label_features`), so both ask for the same names.

        Args:
            inputs (Tensor): Images, ``(N, 3, H, W)``.
            data_samples (list[VIReIDDataSample], optional): Route each
                image through its modality's stem.
            names (Sequence[str]): The features wanted.

        Returns:
            dict[str, Tensor]: The features of ``names``.

        Raises:
            KeyError: A name nothing provides.
        """
        unknown = [n for n in names if n not in self.provided_features]
        if unknown:
            raise KeyError(f'{type(self).__name__}.extract: no feature '
                           f'{unknown}; this model provides '
                           f'{self.provided_features}')
        feats = dict(map=self.extract_map(inputs, data_samples))
        if self.neck_features and any(name != 'map' for name in names):
            feats.update(self.neck.forward_features(feats['map']))
        elif 'global' in names:
            feats['global'] = self.pool(feats['map'])
        for name in names:
            if name not in feats:
                feats[name] = self.head.provide_feature(name, feats)
        return {name: feats[name] for name in names}

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

        The batch's data samples first receive their pseudo-labels
        (``pseudo_label``, ``cross_label``, see :meth:`annotate`); the
        head then gets the features it declares
        (``head.required_features``, default ``('global',)``) as a dict:
        ``head.loss(feats, data_samples)``.
        """
        return self.loss_and_features(inputs, data_samples)[0]

    def loss_and_features(
        self, inputs: torch.Tensor, data_samples: List[VIReIDDataSample]
    ) -> Tuple[Dict[str, torch.Tensor], Dict[str, torch.Tensor]]:
        """:meth:`loss` and the features the head got, for a train step
        that reuses them (e.g. an adversary's update on the same forward,
        :func:`~mmvireid.models.utils.adversarial_train_step`)."""
        if self.head is None:
            raise ValueError(f'{type(self).__name__} has no head: set '
                             'model.head in the config to train it')
        self.annotate(data_samples)
        names = tuple(getattr(self.head, 'required_features', ('global', )))
        feats = self.extract(inputs, data_samples, names)
        return self.head.loss(feats, data_samples), feats

    def annotate(self, data_samples: List[VIReIDDataSample]) -> None:
        """Write the current pseudo-labels into a batch's data samples.

        Each sample gets ``pseudo_label`` (its cluster, ``-1`` for an
        outlier) and ``cross_label`` (its associated cluster of the other
        modality, :meth:`PseudoLabels.merged_cross_labels`; ``-1`` before
        an association), looked up by ``sample_idx``. Before any
        pseudo-labels it does nothing (the heads then say so).

        Raises:
            ValueError: A sample's ``sample_idx`` is missing or outside the
                pseudo-labelled training set.
        """
        if self._labels is None:
            return
        write_labels(data_samples, self._labels, self._cross_labels,
                     type(self).__name__)

    def set_pseudo_labels(self, pseudo_labels: PseudoLabels) -> None:
        """Hand new pseudo-labels to every sub-module that takes them.

        Each sub-module that is a :class:`~mmvireid.structures.
        PseudoLabelConsumer` (heads, prompt learners...) receives the same
        object once, in module order; none forwards it further.
        """
        pl = pseudo_labels
        self._labels, self._cross_labels = pl.label_table()
        for module in self.modules():
            if module is not self and isinstance(module, PseudoLabelConsumer):
                module.set_pseudo_labels(pl)

    def switch_stage(self, stage: str) -> List[str]:
        """Enter training stage ``stage``: every
        :class:`~mmvireid.models.utils.ScheduleAware` sub-module's
        ``switch_stage``, in module order (called by the stage hook).

        Returns:
            list[str]: The names of the sub-modules that changed.
        """
        changed = []
        for name, module in self.named_modules():
            if module is not self and isinstance(module, ScheduleAware):
                if module.switch_stage(stage):
                    changed.append(name)
        return changed

    def set_progress(self, epoch: int, max_epochs: int) -> None:
        """Training is at ``epoch`` of ``max_epochs``: every
        :class:`~mmvireid.models.utils.ScheduleAware` sub-module's
        ``set_progress`` (called by the stage hook before every epoch)."""
        for module in self.modules():
            if module is not self and isinstance(module, ScheduleAware):
                module.set_progress(epoch, max_epochs)

    def predict(
        self,
        inputs: torch.Tensor,
        data_samples: Optional[List[VIReIDDataSample]] = None,
        features: Sequence[str] = ('global', )
    ) -> List[VIReIDDataSample]:
        """Attach the (flip-averaged) features to each sample.

        ``'global'`` becomes the retrieval feature ``pred_feature``; any
        other name of ``features`` (e.g. ``'parts'`` for the label
        pipeline, :meth:`extract_step`) becomes ``pred_<name>_feature``.
        With ``test_cfg=dict(flip=True)`` (default) every feature is the
        mean of the image's and its horizontal mirror's (part stripes are
        horizontal, so a mirror keeps them).
        """
        views = [inputs, inputs.flip(3)] if self.test_cfg['flip'] else [inputs]
        total: Dict[str, torch.Tensor] = {}
        for view in views:
            for name, value in self.extract(view, data_samples,
                                            features).items():
                total[name] = total[name] + value if name in total else value
        if data_samples is None:
            data_samples = [VIReIDDataSample() for _ in range(len(inputs))]
        for name, value in total.items():
            field = 'pred_feature' if name == 'global' else \
                f'pred_{name}_feature'
            value = value / len(views)
            for sample, row in zip(data_samples, value):
                sample.set_field(row, field)
        return data_samples

    @torch.no_grad()
    def extract_step(
        self,
        data: Union[dict, tuple, list],
        features: Sequence[str] = ('global', )
    ) -> List[VIReIDDataSample]:
        """:meth:`test_step` with the named features (see :meth:`predict`):
        the label pipeline's extraction of :attr:`label_features`."""
        data = self.data_preprocessor(data, False)
        return self.predict(data['inputs'], data.get('data_samples'), features)

    def train_step(self, data: Union[dict, tuple, list],
                   optim_wrapper: OptimWrapper) -> Dict[str, torch.Tensor]:
        """One training iteration: forward, backward and the updates.

        With one :class:`~mmengine.optim.OptimWrapper` this is mmengine's
        :meth:`~mmengine.model.BaseModel.train_step`, unchanged. With an
        :class:`~mmengine.optim.OptimWrapperDict` (one wrapper per
        sub-module, :class:`~mmvireid.engine.MultiOptimWrapperConstructor`):

        - if the head defines ``train_step(model, data, optim_wrapper)``,
          the alternating-update hook (e.g. MCF's modality adversary), the
          iteration is the head's;
        - otherwise a joint step: one forward inside every wrapper's
          ``optim_context``, one backward of the summed loss (scaled for
          gradient accumulation), then each wrapper counts the iteration
          and, when its accumulation window is full, steps and zeroes its
          gradients: :meth:`~mmengine.optim.OptimWrapper.update_params`
          with the backward shared. So the wrappers must accumulate alike
          and keep ``OptimWrapper``'s own ``backward`` (each
          ``AmpOptimWrapper`` has a loss scaler of its own: use the hook).

        The hook is called once per training iteration, only with an
        ``OptimWrapperDict``, in place of the joint step, as
        ``head.train_step(model, data, optim_wrapper)``: ``model`` is this
        (unwrapped) ReIDer (``data_preprocessor``, ``annotate``,
        ``extract``, ``loss``, ``parse_losses``), ``data`` the batch as the
        dataloader gives it (the hook runs ``model.data_preprocessor(data,
        True)`` and, before reading labels outside ``model.loss``,
        ``model.annotate``), ``optim_wrapper`` the dict, by entry key. The
        hook makes every update itself, each phase inside its wrapper's
        ``optim_context`` and through its ``update_params`` (e.g. the
        adversary's step on its loss of detached features, then the main
        step with the adversarial loss, the adversary frozen or its
        gradients zeroed so that none reach its next step). It returns the
        log variables, a dict of scalar tensors as :meth:`parse_losses`
        gives (``'loss'`` and the terms).

        Args:
            data (dict | tuple | list): A batch from the dataloader.
            optim_wrapper (OptimWrapper | OptimWrapperDict): The wrapper(s)
                updating the parameters.

        Returns:
            dict[str, Tensor]: The log variables.

        Raises:
            TypeError: A joint step over a wrapper with its own backward.
            ValueError: A joint step over wrappers that accumulate gradients
                differently.
        """
        if not isinstance(optim_wrapper, OptimWrapperDict):
            return super().train_step(data, optim_wrapper)
        hook = getattr(self.head, 'train_step', None)
        if callable(hook):
            return hook(self, data, optim_wrapper)
        return joint_train_step(self, data, optim_wrapper)
