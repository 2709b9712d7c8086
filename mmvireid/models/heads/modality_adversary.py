"""MCF's MAAL: a modality classifier and the alignment loss against it."""
from typing import Dict, List, Optional, Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmengine.model import BaseModule
from torch.func import functional_call

from mmvireid.registry import MODELS
from mmvireid.structures import VIReIDDataSample
from ..utils.batch_pairing import modality_positions


@MODELS.register_module()
class ModalityAdversary(BaseModule):
    """Multimodal assisted adversarial learning (MAAL) of MCF.

    A modality classifier ``E`` over the features of the declared
    modalities (visible, infrared and the channel-augmented ``'augmented'``
    views) and two losses, optimised alternately (paper Sec. 3.3,
    Eq. 17):

    - :meth:`classifier_loss`: ``α · CE(E(f.detach()), true modality)``,
      which only ``E``'s own optimiser steps on (the features are
      detached, so nothing else gets a gradient);
    - :meth:`alignment_loss`: ``β · CE(E(f), target)``, every feature
      classified as the ``target`` modality (CA, the bridge modality),
      with ``E``'s parameters used as constants: it trains the feature
      extractor only.

    The alternation is :func:`~mmvireid.models.utils.adversarial_train_step`,
    which a head calls from its ``train_step`` hook with the classifier's
    own optimiser wrapper (see :class:`~mmvireid.engine.
    MultiOptimWrapperConstructor`, e.g. ``adversary=dict(module=
    'head.adversary', ...)``). Not a gradient reversal layer: the two
    objectives have their own weights and their own optimisers.

    Args:
        feat_dim (int): Feature dimension.
        modalities (Sequence[str]): The classes, in order. Defaults to
            ``('visible', 'infrared', 'augmented')``.
        target (str): The modality every feature should look like.
            Defaults to ``'augmented'``.
        hidden_dim (int, optional): Hidden width of a two-layer MLP
            classifier (BN + ReLU); None gives a linear classifier.
            Defaults to None.
        alpha (float): Weight α of the classification loss. Defaults to
            1.0.
        beta (float): Weight β of the alignment loss. Defaults to 0.1.
        feature (str): The feature it reads (``feats[feature]``).
            Defaults to ``'global'``.
        init_cfg (dict, optional): Initialisation config.
    """

    def __init__(self,
                 feat_dim: int,
                 modalities: Sequence[str] = ('visible', 'infrared',
                                              'augmented'),
                 target: str = 'augmented',
                 hidden_dim: Optional[int] = None,
                 alpha: float = 1.0,
                 beta: float = 0.1,
                 feature: str = 'global',
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        self.modalities = tuple(modalities)
        if len(self.modalities) < 2 or len(set(self.modalities)) != len(
                self.modalities):
            raise ValueError('ModalityAdversary: modalities must be two or '
                             f'more distinct names, got {modalities!r}')
        if target not in self.modalities:
            raise ValueError(f'ModalityAdversary: target {target!r} is not '
                             f'one of the modalities {self.modalities}')
        for name, value in (('alpha', alpha), ('beta', beta)):
            if value < 0:
                raise ValueError(
                    f'ModalityAdversary: {name} must be >= 0, got {value}')
        self.target = target
        self.alpha, self.beta = float(alpha), float(beta)
        self.feature = feature
        classes = len(self.modalities)
        if hidden_dim is None:
            self.classifier = nn.Linear(feat_dim, classes)
        else:
            self.classifier = nn.Sequential(
                nn.Linear(feat_dim, hidden_dim), nn.BatchNorm1d(hidden_dim),
                nn.ReLU(inplace=True), nn.Linear(hidden_dim, classes))

    def targets(self, data_samples: List[VIReIDDataSample],
                device: torch.device) -> torch.Tensor:
        """Each row's true modality class."""
        return torch.tensor(
            modality_positions(data_samples, self.modalities,
                               type(self).__name__),
            device=device)

    def classifier_loss(
            self, feats: Dict[str, torch.Tensor],
            data_samples: List[VIReIDDataSample]) -> Dict[str, torch.Tensor]:
        """``loss_modality_cls``: α · CE of the classifier on the detached
        features and their true modalities, and its accuracy
        ``modality_acc`` (a log value, not a loss)."""
        logits = self.classifier(feats[self.feature].detach())
        targets = self.targets(data_samples, logits.device)
        accuracy = (logits.detach().argmax(1) == targets).float().mean()
        return dict(
            loss_modality_cls=self.alpha * F.cross_entropy(logits, targets),
            modality_acc=accuracy)

    def alignment_loss(
            self, feats: Dict[str, torch.Tensor],
            data_samples: List[VIReIDDataSample]) -> Dict[str, torch.Tensor]:
        """``loss_modality_align``: β · CE of every feature against the
        ``target`` modality, through the classifier with its parameters
        and buffers as constants (no gradient reaches them, BatchNorm
        statistics are not updated). The classifier is the one of this
        forward: a copy of its parameters is taken, so its own update may
        come before this loss's backward."""
        # copies: the classifier's own step may update it in place before
        # this loss is backpropagated (adversarial_train_step)
        constants = {
            name: value.detach().clone()
            for name, value in self.classifier.state_dict(
                keep_vars=True).items()
        }
        features = feats[self.feature]
        was_training = self.classifier.training
        self.classifier.eval()
        try:
            logits = functional_call(self.classifier, constants, (features, ))
        finally:
            self.classifier.train(was_training)
        target = torch.full((len(features), ),
                            self.modalities.index(self.target),
                            device=features.device)
        return dict(loss_modality_align=self.beta *
                    F.cross_entropy(logits, target))
