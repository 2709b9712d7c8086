"""SALCR's Fine-Grained Semantic-Aligned Learning (FGSAL)."""
from typing import Dict, List, Optional, Sequence, Tuple

import torch
import torch.nn as nn
from mmengine.model import BaseModule

from mmvireid.registry import MODELS
from mmvireid.structures import VIReIDDataSample
from mmvireid.structures.pseudo_labels import (PseudoLabelConsumer,
                                               PseudoLabels)
from ..utils.batch_pairing import check_two_modalities, pair_rows
from ..utils.label_rows import sample_labels
from ..utils.schedule_aware import ScheduleAware
from ..utils.stripe_attention import (sigmoid_part_queries, stripe_attention,
                                      stripe_masks)

#: modality positions (label spaces) of a two-modality head
POSITIONS = (0, 1)
#: pair members (columns of :func:`pair_rows`) whose queries belong to each
#: modality position: the plain and channel-augmented views of the first
#: modality, the plain image of the second
QUERY_MEMBERS = (slice(0, 2), slice(2, 3))


@MODELS.register_module()
class FGSALHead(BaseModule, PseudoLabelConsumer, ScheduleAware):
    """Part queries, query-guided attention and part cluster contrast.

    SALCR Sec. 3.3 (https://arxiv.org/abs/2504.19244, Eq. 9-15):

    - the ``(C, H, W)`` map is cut into ``num_parts`` horizontal stripes
      (:func:`torch.tensor_split` along ``H``, so ``H`` need not be a
      multiple of ``num_parts``);
    - query of part ``p`` (Eq. 9): ``q_p = Σ_n σ(p_p·F_n) F_n / Σ_n
      σ(p_p·F_n)`` over the stripe's pixels, ``p_p`` a learnable prototype;
    - aligned part feature (Eq. 10-11): ``softmax(q_p·Fᵀ/√C)·F`` over the
      same stripe of the image itself or of another member of its pair (no
      Q/K/V projections, as in the reference);
    - a BatchNorm over the ``P·C`` part channels (the reference's part
      BNNeck, bias frozen) when ``with_bn``.

    A two-modality head: it learns the modalities from the pseudo-labels
    (:meth:`set_pseudo_labels`) and refers to them by position, ``0`` the
    modality with the channel-augmented views (the colour
    modality of a visible-infrared dataset), ``1`` the other one. Below, ``v`` / ``r`` stand for
    modalities 0 / 1.

    A pair (:func:`pair_rows`) has three members: image ``v`` of modality
    0, its channel-augmented view ``a`` and the image ``r`` of modality 1.
    Each member's queries attend over each member's map: nine features
    ``f^{tq}`` per part (query of ``q`` over the map of ``t``); those of an
    absent ``a`` are dropped.

    Losses (Eq. 12-15), every term averaged over the parts: the six
    features of the modality-0 queries (``q ∈ {v, a}``) are contrasted with
    a space-0 part memory under ``v``'s own cluster and with a space-1 part
    memory under its associated cluster of modality 1
    (``loss_<modalities[0]>``, e.g. ``loss_visible``); the three features
    of the modality-1 query with a space-0 memory under ``r``'s associated
    cluster of modality 0 and a space-1 memory under its own cluster
    (``loss_<modalities[1]>``). As in the authors' code, with
    ``query_specific_memories=True`` each query modality has its own pair
    of memories (4 :class:`PartMemory`, ``memories['<query>_<space>']``,
    keys ``'0_0'``, ``'0_1'``, ``'1_0'``, ``'1_1'``; one per space,
    ``memories['0']`` / ``['1']``, otherwise); the memories of one label
    space all start from the part centroids of that modality's images under
    their own clusters (:meth:`set_pseudo_labels` after an association).
    Every (feature, label) used by a memory then updates it (momentum
    ``momentum`` on the old prototype).

    Fixed defects of the reference: the channel-augmented view's query over
    the map of ``r`` (``f^{ra}``) reaches the loss (the reference feeds
    ``f^{va}`` twice instead), and the loss weight is applied.

    The labels come with the batch (data samples' ``pseudo_label`` and
    ``cross_label``, written by the model); the head keeps no copy. It
    provides the feature ``'parts'`` (:meth:`part_features`) to the
    model's extraction, which the label pipeline asks for
    (:attr:`label_features`) to initialise the part memories. At the
    training stages named in ``reset_stages`` (:meth:`switch_stage`) its
    parameters start afresh, as the reference does at its stage switch.

    Args:
        in_channels (int): Channels ``C`` of the feature map. Defaults to
            2048.
        num_parts (int): Stripes / prototypes ``N_p``. Defaults to 3.
        memory (dict, optional): Config of each part memory; ``num_parts``
            and ``feat_dim`` are set from the head's. Defaults to
            ``dict(type='PartMemory', temperature=0.05, momentum=0.1)``.
        loss (dict, optional): Config of the loss, called as
            ``loss(part_features, labels, memory)``. Defaults to
            ``dict(type='ClusterContrastLoss', loss_weight=1.0)``.
        with_bn (bool): Part BatchNorm on the aligned features. Defaults to
            True.
        query_specific_memories (bool): One memory per (query modality,
            label space) as the reference (True), or one per label space
            shared by both query modalities (False). Defaults to True.
        reset_stages (Sequence[str]): Training stages at whose start the
            part prototypes and part BN are re-initialised. Defaults to
            ``()``.
        init_cfg (dict, optional): Initialisation config.

    Attributes:
        modalities (tuple[str, str], optional): The modalities of the last
            pseudo-labels (None before any).
        memories (nn.ModuleDict): The part memories by ``'<query>_<space>'``
            (or ``'<space>'``) modality positions.
        has_associations (bool): Whether the last pseudo-labels have
            cross-modal labels (the part terms are active).
    """

    #: features of the batch the head reads (``ReIDer.extract`` names)
    required_features = ('map', )
    #: features the head computes for the model's extraction
    provided_features = ('parts', )
    #: features the label pipeline extracts for :meth:`set_pseudo_labels`
    label_features = ('global', 'parts')

    def __init__(self,
                 in_channels: int = 2048,
                 num_parts: int = 3,
                 memory: Optional[dict] = None,
                 loss: Optional[dict] = None,
                 with_bn: bool = True,
                 query_specific_memories: bool = True,
                 reset_stages: Sequence[str] = (),
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        self.in_channels = in_channels
        self.num_parts = num_parts
        self.query_specific_memories = query_specific_memories
        self.reset_stages = tuple(reset_stages)
        self.part_prototypes = nn.Parameter(
            torch.empty(num_parts, in_channels))
        self.bn = nn.BatchNorm1d(num_parts * in_channels) if with_bn else None
        if self.bn is not None:
            self.bn.bias.requires_grad_(False)
        memory = dict(
            dict(type='PartMemory', temperature=0.05, momentum=0.1),
            **(memory or {}))
        memory.update(num_parts=num_parts, feat_dim=in_channels)
        keys = [f'{q}_{s}' for q in POSITIONS for s in POSITIONS] \
            if query_specific_memories else [str(s) for s in POSITIONS]
        self.memories = nn.ModuleDict({k: MODELS.build(memory) for k in keys})
        self.loss_fn = MODELS.build(
            dict(dict(type='ClusterContrastLoss'), **(loss or {})))
        self.modalities: Optional[Tuple[str, str]] = None
        self.has_associations = False
        self.reset_parameters()

    def switch_stage(self, stage: str) -> bool:
        """Re-initialise the parameters at the stages of ``reset_stages``
        (True then)."""
        if stage not in self.reset_stages:
            return False
        self.reset_parameters()
        return True

    def provide_feature(self, name: str,
                        feats: Dict[str, torch.Tensor]) -> torch.Tensor:
        """The provided feature ``name`` (``'parts'``: :meth:`part_features`
        of ``feats['map']``)."""
        if name != 'parts':
            raise KeyError(f'FGSALHead provides {self.provided_features}, '
                           f'not {name!r}')
        return self.part_features(feats['map'])

    def reset_parameters(self) -> None:
        """Fresh part prototypes (Kaiming normal) and part BN (weight
        N(1, 0.01), bias 0, running statistics cleared), as the reference
        does at the stage switch."""
        nn.init.kaiming_normal_(self.part_prototypes)
        if self.bn is not None:
            self.bn.reset_running_stats()
            nn.init.normal_(self.bn.weight, 1.0, 0.01)
            nn.init.zeros_(self.bn.bias)

    def memory(self, query: int, space: int) -> nn.Module:
        """The :class:`PartMemory` fed by the features of the queries of
        modality position ``query`` in the label space of modality position
        ``space`` (0 or 1)."""
        return self.memories[f'{query}_{space}' if self.
                             query_specific_memories else str(space)]

    # ---------------------------------------------------------- features
    def _norm(self, part_feats: torch.Tensor) -> torch.Tensor:
        """Part BN of ``(R, P, C)`` features."""
        if self.bn is None:
            return part_feats
        return self.bn(part_feats.flatten(1)).view_as(part_feats)

    def part_features(self, feat_map: torch.Tensor) -> torch.Tensor:
        """Own-stripe aligned part features ``f^{vv}`` / ``f^{rr}``.

        Used to extract the part features of the training set (memory
        initialisation); in eval mode the BN uses its running statistics.

        Args:
            feat_map (Tensor): ``(B, C, H, W)`` backbone maps.

        Returns:
            Tensor: ``(B, P, C)`` part features (not normalised).
        """
        b, _, h, w = feat_map.shape
        stripes = stripe_masks(self.num_parts, h, w, feat_map.device)
        pixels = feat_map.flatten(2).transpose(1, 2)[None]
        feats = stripe_attention(
            sigmoid_part_queries(pixels, self.part_prototypes, stripes),
            pixels, stripes)
        return self._norm(feats[0, 0])

    def aligned_features(
            self, feat_maps: torch.Tensor,
            pairs: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        """Aligned part features of every pair member combination.

        Args:
            feat_maps (Tensor): ``(B, C, H, W)`` maps of the batch.
            pairs (Tensor): ``(M, 3)`` rows from :func:`pair_rows` (on the
                host: the masks below then need no device
                synchronisation).

        Returns:
            tuple[Tensor, Tensor]: ``aligned`` of shape ``(3, 3, M, P, C)``,
            ``aligned[q, t]`` the features of member ``q``'s queries over
            member ``t``'s map (members ordered as :func:`pair_rows`'
            columns: modality 0, its augmented view, modality 1; zeros
            where a member is absent), and ``present`` ``(3, M)`` (on
            ``pairs``' device), whether each member exists.
        """
        present = (pairs >= 0).t()
        if not len(pairs):
            # no rows, but in the graph (zero losses that backpropagate)
            zero = feat_maps.sum() * 0 + self.part_prototypes.sum() * 0
            return zero.expand(3, 3, 0, self.num_parts,
                               self.in_channels), present
        rows = torch.where(pairs >= 0, pairs, pairs[:, :1]).t()
        _, _, h, w = feat_maps.shape
        stripes = stripe_masks(self.num_parts, h, w, feat_maps.device)
        pixels = feat_maps.flatten(2).transpose(1,
                                                2)[rows.to(feat_maps.device)]
        aligned = stripe_attention(
            sigmoid_part_queries(pixels, self.part_prototypes, stripes),
            pixels, stripes)
        both = present[:, None] & present[None]
        if self.bn is not None:
            # the BN sees the rows of present member combinations only
            kept = torch.nonzero(both.flatten()).flatten().to(aligned.device)
            flat = aligned.flatten(0, 2)
            aligned = torch.zeros_like(flat).index_copy(
                0, kept, self._norm(flat.index_select(0,
                                                      kept))).view_as(aligned)
        else:
            aligned = aligned * both.to(aligned.device)[..., None, None]
        return aligned, present

    # ------------------------------------------------------------ losses
    def _pair_labels(self, pairs: torch.Tensor,
                     data_samples: List[VIReIDDataSample]) -> list:
        """``labels[q][s]``: the cluster in label space ``s`` of the image
        of pair member group ``q`` (own label where ``s == q``, cross label
        otherwise), ``(M,)`` each, on the host."""
        owner = type(self).__name__
        check_two_modalities(self.modalities, owner)
        own = sample_labels(data_samples, 'pseudo_label', owner)
        cross = sample_labels(data_samples, 'cross_label', owner)
        pairs = pairs.cpu()
        first, second = pairs[:, 0], pairs[:, 2]
        return [(own[first], cross[first]), (cross[second], own[second])]

    def loss_by_feat(
            self, aligned: torch.Tensor, present: torch.Tensor,
            pairs: torch.Tensor,
            data_samples: List[VIReIDDataSample]) -> Dict[str, torch.Tensor]:
        """Part contrast of :meth:`aligned_features`' output.

        Args:
            aligned (Tensor): ``(3, 3, M, P, C)`` aligned part features.
            present (Tensor): ``(3, M)`` whether each member exists (on
                the host).
            pairs (Tensor): ``(M, 3)`` rows from :func:`pair_rows`.
            data_samples (list[VIReIDDataSample]): One per batch row, with
                ``pseudo_label`` and ``cross_label``.

        Returns:
            dict: ``loss_<modalities[0]>`` (queries of modality 0 and of
            its augmented view) and ``loss_<modalities[1]>`` (queries of
            modality 1), each the sum of a space-0 and a space-1 term.

        Raises:
            ValueError: No pseudo-labels yet.
        """
        labels = self._pair_labels(pairs, data_samples)
        present = present.cpu()
        m = aligned.size(2)
        both = present[:, None] & present[None]
        pair_of = torch.arange(m).expand(3, 3, m)
        losses, updates = {}, []
        for query, sel in zip(POSITIONS, QUERY_MEMBERS):
            kept = both[sel]
            rows = torch.nonzero(kept.flatten()).flatten()
            feats = aligned[sel].flatten(0, 2).index_select(
                0, rows.to(aligned.device))
            index = pair_of[sel][kept]
            total = aligned.sum() * 0
            for space, space_labels in zip(POSITIONS, labels[query]):
                target = space_labels[index]
                memory = self.memory(query, space)
                total = total + self.loss_fn(feats, target, memory)
                updates.append((memory, feats.detach(), target))
            losses[f'loss_{self.modalities[query]}'] = total
        # collective calls in distributed runs: made on every rank, even
        # with no pair
        for memory, feats, target in updates:
            memory.update(feats, target)
        return losses

    def loss(self, feats: Dict[str, torch.Tensor],
             data_samples: List[VIReIDDataSample]) -> Dict[str, torch.Tensor]:
        """FGSAL losses of a paired batch.

        Args:
            feats (dict[str, Tensor]): The batch's features by name:
                ``'map'`` ``(B, C, H, W)`` backbone maps; optionally
                ``'pairs'`` ``(M, 3)`` (default: :func:`pair_rows` of
                ``data_samples`` and :attr:`modalities`) and
                ``'aligned_parts'`` with ``'present'`` (the output of
                :meth:`aligned_features` for those pairs, when a parent
                head computed it already).
            data_samples (list[VIReIDDataSample]): One per row.

        Returns:
            dict: ``loss_<modalities[0]>`` and ``loss_<modalities[1]>``
            (zeros when there is no pair; the memories are then updated
            with no rows, as the collective update of a distributed run
            needs).

        Raises:
            ValueError: No pseudo-labels yet.
        """
        pairs = feats.get('pairs')
        if pairs is None:
            modalities = check_two_modalities(self.modalities,
                                              type(self).__name__)
            pairs = pair_rows(data_samples, modalities)
        if 'aligned_parts' in feats:
            aligned, present = feats['aligned_parts'], feats['present']
        else:
            aligned, present = self.aligned_features(feats['map'], pairs)
        return self.loss_by_feat(aligned, present, pairs, data_samples)

    def set_pseudo_labels(self, pseudo_labels: PseudoLabels) -> None:
        """Take new pseudo-labels: the part memories.

        - After clustering (``cross_labels`` empty): the part terms are
          inactive (no cross label) and the part memories are emptied.
        - After association: every memory of label space ``s`` is
          re-initialised from the part centroids of modality ``s``'s
          images (``pseudo_labels.part_features``) under their own
          clusters. Without ``features`` and ``part_features`` (labels
          restored from a checkpoint, not re-extracted) the memories are
          kept as they are, loaded from the same checkpoint.

        Args:
            pseudo_labels (PseudoLabels): Labels of two modalities.

        Raises:
            ValueError: ``pseudo_labels`` has not two modalities, or has
                associations and features but no ``part_features``.
        """
        pl = pseudo_labels
        self.modalities = check_two_modalities(pl.modalities,
                                               type(self).__name__)
        self.has_associations = pl.has_associations
        if not pl.cross_labels:
            empty = self.part_prototypes.new_zeros(0, self.num_parts,
                                                   self.in_channels)
            for memory in self.memories.values():
                memory.reset(empty.detach(), torch.zeros(0, dtype=torch.long))
            return
        if pl.part_features is None and pl.features is not None:
            raise ValueError(
                'FGSALHead needs the part features of the training set '
                '(PseudoLabels.part_features) with its associations: the '
                "label pipeline extracts the model's label_features, which "
                "include 'parts' when the model's head has a FGSALHead")
        if pl.part_features is None:
            return
        part_feats = torch.as_tensor(pl.part_features)
        for space in POSITIONS:
            mask = (pl.modality_ids == space).to(part_feats.device)
            for query in POSITIONS:
                self.memory(query,
                            space).reset(part_feats[mask].float(),
                                         pl.labels.to(mask.device)[mask])
