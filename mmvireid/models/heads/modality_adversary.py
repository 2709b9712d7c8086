"""MCF's MAAL: a modality classifier and the alignment loss against it."""
from typing import Dict, List, Optional, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmengine.model import BaseModule
from torch.func import functional_call

from mmvireid.registry import MODELS
from mmvireid.structures import VIReIDDataSample
from mmvireid.structures.pseudo_labels import (PseudoLabelConsumer,
                                               PseudoLabels)
from ..utils.batch_pairing import modality_positions


@MODELS.register_module()
class ModalityAdversary(BaseModule, PseudoLabelConsumer):
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

    The classes are the pseudo-labels' declared modalities, by position
    (the adversary is a :class:`~mmvireid.structures.PseudoLabelConsumer`:
    it learns their names from the label pipeline, as heads do).

    Args:
        feat_dim (int): Feature dimension.
        num_modalities (int): Classes: the declared modalities. Defaults
            to 3 (visible, infrared, channel-augmented).
        target (int): Position of the modality every feature should look
            like; -1 (default) is the last one, where
            :class:`~mmvireid.datasets.VirtualModalityDataset` declares
            the channel-augmented views.
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
                 num_modalities: int = 3,
                 target: int = -1,
                 hidden_dim: Optional[int] = None,
                 alpha: float = 1.0,
                 beta: float = 0.1,
                 feature: str = 'global',
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        if isinstance(num_modalities, bool) or not isinstance(
                num_modalities, int) or num_modalities < 2:
            raise ValueError('ModalityAdversary: num_modalities must be an '
                             f'int >= 2, got {num_modalities!r}')
        if not -num_modalities <= target < num_modalities:
            raise ValueError(
                f'ModalityAdversary: target {target!r} is not a position of '
                f'{num_modalities} modalities')
        for name, value in (('alpha', alpha), ('beta', beta)):
            if value < 0:
                raise ValueError(
                    f'ModalityAdversary: {name} must be >= 0, got {value}')
        self.num_modalities = num_modalities
        self.target = target % num_modalities
        self.alpha, self.beta = float(alpha), float(beta)
        self.feature = feature
        self.modalities: Optional[Tuple[str, ...]] = None
        if hidden_dim is None:
            self.classifier = nn.Linear(feat_dim, num_modalities)
        else:
            self.classifier = nn.Sequential(
                nn.Linear(feat_dim, hidden_dim), nn.BatchNorm1d(hidden_dim),
                nn.ReLU(inplace=True), nn.Linear(hidden_dim, num_modalities))

    def set_pseudo_labels(self, pseudo_labels: PseudoLabels) -> None:
        """Learn the declared modalities (the classes).

        Raises:
            ValueError: Another number of modalities than
                ``num_modalities``.
        """
        modalities = tuple(pseudo_labels.modalities)
        if len(modalities) != self.num_modalities:
            raise ValueError(
                f'ModalityAdversary(num_modalities={self.num_modalities}) got '
                f'pseudo-labels of the modalities {modalities}')
        self.modalities = modalities

    def targets(self, data_samples: List[VIReIDDataSample],
                device: torch.device) -> torch.Tensor:
        """Each row's true modality class."""
        if self.modalities is None:
            raise ValueError(
                'ModalityAdversary has no pseudo-labels yet: the label '
                'pipeline must hand them over (set_pseudo_labels) before the '
                'first training step')
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
                            self.target,
                            device=features.device)
        return dict(loss_modality_align=self.beta *
                    F.cross_entropy(logits, target))
