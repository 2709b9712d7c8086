"""MCF's training head: intra contrast of three modalities, PA-CBAM's
regulariser and MAAL, then VRA's cross contrast and uniform merging."""
from typing import Dict, List, Optional, Tuple

import torch
import torch.nn.functional as F
from mmengine.model import BaseModule

from mmvireid.registry import MODELS
from mmvireid.structures import VIReIDDataSample
from mmvireid.structures.pseudo_labels import (PseudoLabelConsumer,
                                               PseudoLabels, pair_key)
from ..losses.uniform_merging_loss import cluster_groups
from ..utils.adversarial_train_step import adversarial_train_step
from ..utils.batch_pairing import modality_positions
from ..utils.joint_train_step import joint_train_step
from ..utils.label_rows import sample_labels
from ..utils.schedule_aware import ScheduleAware


@MODELS.register_module()
class MCFHead(BaseModule, PseudoLabelConsumer, ScheduleAware):
    """The losses of the multi-module collaborative framework (MCF).

    Phase 1 (clusters, no association yet):

    - ``base``: a :class:`DualMemoryContrastHead` over every declared
      modality (visible, infrared and the channel-augmented views, each
      with its own cluster memory): ``loss_<modality>``;
    - ``channel_loss`` (optional): PA-CBAM's identity regulariser
      (:class:`ChannelIdentityLoss`) on the neck's ``'channel_weights'``;
      views whose labels follow their source images (e.g. through
      :class:`~mmvireid.models.ViewFollowingClusterer`) share their
      source modality's label space;
    - ``adversary`` (optional): MAAL (:class:`ModalityAdversary`): its
      alignment loss ``loss_modality_align`` here, its classifier trained
      by its own optimiser in :meth:`train_step`.

    Phase 2, once the pseudo-labels carry associations (the association
    hook, e.g. with :class:`~mmvireid.models.VRAAssociator`, runs in the
    second stage), between the two real modalities ``cross_pair``
    (positions in the declared modalities):

    - ``cross_weight`` (α1): each feature of one modality against the
      other's cluster memory with its cross label (``loss_cross_<m>``,
      the VRA contrast in both directions; the memories are updated by
      the base head's own-modality features only);
    - ``merging`` (optional, with ``merging_weights`` δ per modality and
      α3 folded into them): uniform merging (:class:`UniformMergingLoss`),
      the clusters of a modality linked to the same cluster of the other
      one as one identity (``loss_merge_<m>``); with ``alternate_merging``
      the two modalities take turns by epoch (PGM's alternating contrast:
      the first of ``cross_pair`` in even epochs, the second in odd ones;
      only the active term is computed and logged).

    A head of several modalities: it refers to them by position in the
    pseudo-labels' ``modalities``.

    Args:
        base (dict): Config of the intra-modality head.
        channel_loss (dict, optional): Config of the channel regulariser.
        adversary (dict, optional): Config of the modality adversary.
        cross_weight (float): α1 of the cross contrast; 0 turns it off.
            Defaults to 0.4.
        merging (dict, optional): Config of the uniform-merging loss.
        merging_weights (tuple[float, float]): Weight of each modality of
            ``cross_pair`` in uniform merging (α3·δ1, α3·δ2). Defaults to
            ``(0.03 * 0.6, 0.03 * 0.4)``.
        alternate_merging (bool): One modality's merging term per epoch,
            alternately. Defaults to True.
        cross_pair (tuple[int, int]): Positions of the two real
            modalities. Defaults to ``(0, 1)``.
        init_cfg (dict, optional): Initialisation config.
    """

    def __init__(self,
                 base: dict,
                 channel_loss: Optional[dict] = None,
                 adversary: Optional[dict] = None,
                 cross_weight: float = 0.4,
                 merging: Optional[dict] = None,
                 merging_weights: Tuple[float,
                                        float] = (0.03 * 0.6, 0.03 * 0.4),
                 alternate_merging: bool = True,
                 cross_pair: Tuple[int, int] = (0, 1),
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        self.base = MODELS.build(base)
        if getattr(self.base, 'cross_modal', False):
            raise ValueError('MCFHead: give the base head cross_modal=False; '
                             'the cross terms are this head\'s')
        self.channel_loss = MODELS.build(channel_loss) \
            if channel_loss else None
        self.adversary = MODELS.build(adversary) if adversary else None
        self.merging = MODELS.build(merging) if merging else None
        if len(cross_pair) != 2 or cross_pair[0] == cross_pair[1]:
            raise ValueError('MCFHead: cross_pair must be two distinct '
                             f'positions, got {cross_pair!r}')
        if len(merging_weights) != 2:
            raise ValueError('MCFHead: merging_weights must give two '
                             f'weights, got {merging_weights!r}')
        self.cross_weight = float(cross_weight)
        self.merging_weights = tuple(float(w) for w in merging_weights)
        self.alternate_merging = alternate_merging
        self.cross_pair = tuple(cross_pair)
        self.modalities: Optional[Tuple[str, ...]] = None
        self.has_associations = False
        # label space of each modality position, and the cluster groups of
        # the cross pair for uniform merging (from the pseudo-labels)
        self._spaces: Optional[torch.Tensor] = None
        self._groups: Dict[int, torch.Tensor] = {}
        self._epoch = 0
        self._adversarial_step = False

    # ------------------------------------------------------------ features
    @property
    def required_features(self) -> Tuple[str, ...]:
        """``'global'``, and ``'channel_weights'`` with the regulariser."""
        return ('global', ) + (
            ('channel_weights', ) if self.channel_loss is not None else ())

    #: features the label pipeline extracts for :meth:`set_pseudo_labels`
    label_features = ('global', )

    # ------------------------------------------------------------ schedule
    def set_progress(self, epoch: int, max_epochs: int) -> None:
        """The epoch decides which modality merges (alternating)."""
        self._epoch = epoch

    def set_pseudo_labels(self, pseudo_labels: PseudoLabels) -> None:
        """Label spaces of the views and the cluster groups of merging."""
        pl = pseudo_labels
        self.modalities = tuple(pl.modalities)
        num = len(self.modalities)
        if max(self.cross_pair) >= num:
            raise ValueError(
                f'MCFHead: cross_pair={self.cross_pair} but the pseudo-labels '
                f'have the modalities {self.modalities}')
        self._spaces = _label_spaces(pl)
        self.has_associations = pl.has_associations
        self._groups = {}
        if not self.has_associations:
            return
        for mine, other in (self.cross_pair, self.cross_pair[::-1]):
            key = pair_key(self.modalities[mine], self.modalities[other])
            if key not in pl.cross_labels:
                continue
            index = pl.indices(self.modalities[mine])
            self._groups[mine] = cluster_groups(
                pl.labels[index], pl.cross_labels[key][index],
                pl.num_clusters(self.modalities[mine]))

    # ---------------------------------------------------------------- loss
    def train_step(self, model, data,
                   optim_wrapper) -> Dict[str, torch.Tensor]:
        """With an adversary, MAAL's alternating step
        (:func:`~mmvireid.models.utils.adversarial_train_step`, the
        adversary's own wrapper ``'adversary'``); otherwise the model's
        joint step of several optimisers."""
        if self.adversary is None:
            return joint_train_step(model, data, optim_wrapper)
        self._adversarial_step = True
        try:
            return adversarial_train_step(model, data, optim_wrapper,
                                          self.adversary)
        finally:
            self._adversarial_step = False

    def loss(self, feats: Dict[str, torch.Tensor],
             data_samples: List[VIReIDDataSample]) -> Dict[str, torch.Tensor]:
        """Every active MCF loss of a batch.

        Raises:
            ValueError: With an adversary, outside :meth:`train_step` (a
                single optimiser would never train its classifier).
        """
        if self.adversary is not None and not self._adversarial_step:
            raise ValueError(
                'MCFHead: MAAL (adversary) trains its classifier with its '
                "own optimiser: optim_wrapper=dict(constructor='"
                "MultiOptimWrapperConstructor', adversary=dict(module="
                "'head.adversary', ...), rest=dict(...))")
        owner = type(self).__name__
        labels = sample_labels(data_samples, 'pseudo_label', owner)
        position = torch.tensor(
            modality_positions(data_samples, self.modalities, owner))
        # the cross-pair terms first: they read the memories as they are
        # before the base head's update of this batch
        cross = self._cross_losses(feats['global'], data_samples, labels,
                                   position) if self.has_associations else {}
        losses = dict(self.base.loss(feats, data_samples))
        losses.update(cross)
        if self.channel_loss is not None:
            losses['loss_channel'] = self.channel_loss(
                feats['channel_weights'], labels, self._spaces[position])
        if self.adversary is not None:
            losses.update(self.adversary.alignment_loss(feats, data_samples))
        return losses

    def _cross_losses(self, feats: torch.Tensor,
                      data_samples: List[VIReIDDataSample],
                      labels: torch.Tensor,
                      position: torch.Tensor) -> Dict[str, torch.Tensor]:
        """VRA's cross contrast and uniform merging of the cross pair."""
        cross = sample_labels(data_samples, 'cross_label', type(self).__name__)
        feats = F.normalize(feats, dim=1)
        memories = self.base.memories
        losses = {}
        for turn, (mine, other) in enumerate(
            (self.cross_pair, self.cross_pair[::-1])):
            name = self.modalities[mine]
            rows = torch.nonzero(position == mine).flatten()
            mine_feats = feats.index_select(0, rows.to(feats.device))
            if self.cross_weight > 0:
                losses[f'loss_cross_{name}'] = self.cross_weight * \
                    self.base.loss_fn(mine_feats, cross[rows],
                                      memories[other])
            if self.merging is None or mine not in self._groups:
                continue
            if self.alternate_merging and self._epoch % 2 != turn:
                continue  # the other modality's turn
            losses[f'loss_merge_{name}'] = self.merging_weights[
                turn] * self.merging(mine_feats, labels[rows],
                                     self._groups[mine], memories[mine])
        return losses


def _label_spaces(pl: PseudoLabels) -> torch.Tensor:
    """The label space of each modality position: its own, or its source
    modality's when every one of its samples is a view labelled as its
    source image (labels that follow the sources)."""
    spaces = torch.arange(len(pl.modalities))
    if pl.view_sources is None:
        return spaces
    for m in range(len(pl.modalities)):
        index = torch.nonzero(pl.modality_ids == m).flatten()
        sources = pl.view_sources[index]
        if not len(index) or bool((sources < 0).any()):
            continue
        source_modalities = pl.modality_ids[sources].unique()
        if len(source_modalities) == 1 and torch.equal(pl.labels[index],
                                                       pl.labels[sources]):
            spaces[m] = spaces[int(source_modalities)]
    return spaces
