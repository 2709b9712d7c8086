"""SALCR's Global-Part Collaborative Refinement (GPCR)."""
import warnings
from typing import Dict, List, Optional, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmengine.model import BaseModule

from mmvireid.registry import MODELS
from mmvireid.structures import VIReIDDataSample
from mmvireid.structures.pseudo_labels import (PseudoLabelConsumer,
                                               PseudoLabels)
from ..utils.batch_pairing import check_two_modalities, pair_rows

#: columns of :func:`pair_rows` holding the plain image of each modality
#: position (column 1 is modality 0's channel-augmented view)
PLAIN_MEMBERS = (0, 2)


def topk_mask(logits: torch.Tensor, k: int) -> torch.Tensor:
    """Boolean mask of the ``k`` largest entries of each row (last dim);
    every entry when the row is shorter than ``k``."""
    k = min(k, logits.size(-1))
    index = logits.detach().topk(k, dim=-1).indices
    return torch.zeros_like(logits, dtype=torch.bool).scatter_(-1, index, True)


@MODELS.register_module()
class GPCRHead(BaseModule, PseudoLabelConsumer):
    """Instance contrast with reliable positives of global and part features.

    SALCR Sec. 3.4 (https://arxiv.org/abs/2504.19244, Eq. 16-27). A
    two-modality head: it learns the modalities from the pseudo-labels
    (:meth:`set_pseudo_labels`) and refers to them by position, ``0`` the
    modality with the channel-augmented views (the colour
    modality of a visible-infrared dataset), ``1`` the other one. Two instance memories (:class:`InstanceMemory`),
    ``memories[0]`` and ``memories[1]``, hold the features of every
    non-outlier training image of modality 0 / 1 of the epoch (global, and
    per part when ``num_parts > 0``). For a pair (:func:`pair_rows`) of an
    image ``v`` of modality 0, its channel-augmented view ``a`` and an image
    ``r`` of modality 1:

    - **global, cross-modality intersection** (Eq. 16-20): in each memory,
      the positives of ``v``, ``a`` and ``r`` alike are the intersection of
      the top-``k`` neighbour sets of the three global features *in that
      memory*; every member is contrasted against both memories.
    - **parts, mutual correction** (Eq. 21-26): for the aligned part
      feature of member ``q``'s query over member ``t``'s map
      (:meth:`FGSALHead.aligned_features`), the positives in a part memory
      are the union of the top-``k`` sets of the same query over the two
      other members' maps, intersected with the global top-``k`` set of
      ``q``'s own image in the same modality's global memory (Eq. 23).
    - loss of a row: ``-log Σ_{i∈P} softmax(f·Mᵀ/τ)_i``; rows with an
      empty positive set are skipped; mean over rows, per memory; the part
      loss is averaged over parts (over parts with at least one row).

    Where the paper is silent or ill-posed (choices follow the authors'
    code):

    - Eq. 16 intersects ``N{f^v, M_I^v}`` with ``N{f^r, M_I^r}``, index sets
      of two different memories; here (as in the reference) all members are
      searched in the same memory, once per memory.
    - The global set used by a part feature is the one of its *query's*
      image (Eq. 21-22 use ``N{f^v, M_I^v}`` for both ``f^{vv}`` and
      ``f^{rv}``), not the intersection.
    - Part memories store the own-stripe features ``f^{vv}`` / ``f^{rr}``
      of each image (``PseudoLabels.part_features``).
    - Neighbour sets are exact top-``k`` (``torch.topk``), the memories are
      static during the epoch (``momentum_update=False``); with
      ``momentum_update=True`` an image's entries follow its plain view's
      global and own-stripe part features.
    - A missing channel-augmented view simply leaves the intersection and
      unions without it.

    Args:
        feat_dim (int): Global feature dimension. Defaults to 2048.
        num_parts (int): Parts; 0 for the global terms only. Defaults to 0.
        part_dim (int, optional): Part feature dimension. Defaults to
            ``feat_dim``.
        k (int): Neighbours per set. Defaults to 30.
        temperature (float): τ. Defaults to 0.05.
        memory (dict, optional): Config of each modality's instance memory;
            ``feat_dim``, ``num_parts`` and ``part_dim`` are set from the
            head's. Defaults to ``dict(type='InstanceMemory',
            momentum=0.1, momentum_update=False)`` (the reference's static
            memory; with ``momentum_update=True`` the entries follow the
            batch).
        loss (dict, optional): Config of the loss. Defaults to
            ``dict(type='MultiPositiveContrastLoss', loss_weight=0.5)``
            (``loss_weight`` is λ of Eq. 30).
        init_cfg (dict, optional): Initialisation config.

    Attributes:
        modalities (tuple[str, str], optional): The modalities of the last
            pseudo-labels (None before any).
        memories (nn.ModuleList): The two instance memories, by modality
            position.
    """

    #: features of the batch the head reads (``ReIDer.extract`` names)
    required_features = ('global', )

    @property
    def label_features(self) -> Tuple[str, ...]:
        """Features the label pipeline extracts for
        :meth:`set_pseudo_labels` (``'parts'`` with ``num_parts``)."""
        return ('global', 'parts') if self.num_parts else ('global', )

    def __init__(self,
                 feat_dim: int = 2048,
                 num_parts: int = 0,
                 part_dim: Optional[int] = None,
                 k: int = 30,
                 temperature: float = 0.05,
                 memory: Optional[dict] = None,
                 loss: Optional[dict] = None,
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        if k < 1:
            raise ValueError(f'k must be >= 1, got {k}')
        self.num_parts = num_parts
        self.k = k
        self.temperature = temperature
        memory = dict(
            dict(type='InstanceMemory', momentum=0.1, momentum_update=False),
            **(memory or {}))
        memory.update(
            feat_dim=feat_dim, num_parts=num_parts, part_dim=part_dim)
        self.memories = nn.ModuleList([MODELS.build(memory) for _ in range(2)])
        self.loss_fn = MODELS.build(
            dict(
                dict(type='MultiPositiveContrastLoss', loss_weight=0.5),
                **(loss or {})))
        self.modalities: Optional[Tuple[str, str]] = None

    def set_pseudo_labels(self, pseudo_labels: PseudoLabels) -> None:
        """Take new pseudo-labels: fill or empty the instance memories.

        - After clustering (``cross_labels`` empty): GPCR is inactive until
          an association exists; both memories are emptied.
        - After association: ``memories[m]`` holds the features
          (``pseudo_labels.features``, and ``part_features`` for the part
          terms) of every non-outlier sample of modality ``m``, by dataset
          index. Without ``features`` (labels restored from a checkpoint,
          not re-extracted) the memories are kept as they are, loaded from
          the same checkpoint.

        Args:
            pseudo_labels (PseudoLabels): Labels of two modalities.

        Raises:
            ValueError: ``pseudo_labels`` has not two modalities.
        """
        pl = pseudo_labels
        self.modalities = check_two_modalities(pl.modalities,
                                               type(self).__name__)
        if not pl.cross_labels:
            for memory in self.memories:
                memory.reset(torch.zeros(0, memory.feat_dim))
            return
        if pl.features is None:
            return
        feats = torch.as_tensor(pl.features)
        parts = pl.part_features if self.num_parts else None
        if parts is not None:
            parts = torch.as_tensor(parts)
        elif self.num_parts:
            warnings.warn(f'GPCRHead(num_parts={self.num_parts}) got no '
                          'PseudoLabels.part_features: part terms skipped '
                          'this epoch')
        for m, memory in enumerate(self.memories):
            mask = (pl.labels >= 0) & (pl.modality_ids == m)
            index = torch.nonzero(mask).flatten()
            memory.reset(
                feats[index.to(feats.device)],
                index,
                part_features=None
                if parts is None else parts[index.to(parts.device)])

    @property
    def momentum_update(self) -> bool:
        """Whether the instance memories follow the batch features."""
        return self.memories[0].momentum_update

    def _bank(self, bank: torch.Tensor) -> torch.Tensor:
        # the memory may change in place (momentum_update) before backward
        return bank.clone() if self.momentum_update else bank

    def global_positives(
            self, logits: torch.Tensor,
            present: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        """Cross-modality intersection (Eq. 16-17) in one memory.

        Args:
            logits (Tensor): ``(3, M, N)`` similarities of the members'
                global features to the memory.
            present (Tensor): ``(3, M)`` whether each member exists.

        Returns:
            tuple[Tensor, Tensor]: ``(3, M, N)`` top-``k`` set of each
            member and ``(M, N)`` positives shared by a pair's members (the
            intersection over its present members).
        """
        neighbours = topk_mask(logits, self.k)
        return neighbours, (neighbours | ~present[..., None]).all(0)

    def part_positives(self, logits: torch.Tensor, present: torch.Tensor,
                       neighbours: torch.Tensor) -> torch.Tensor:
        """Mutual correction (Eq. 21-23) in one part memory.

        Args:
            logits (Tensor): ``(3, 3, M, P, N)`` similarities of the aligned
                part features ``[query member, map member]`` to the memory.
            present (Tensor): ``(3, M)`` whether each member exists.
            neighbours (Tensor): ``(3, M, N)`` global top-``k`` sets of the
                members in the same modality's global memory.

        Returns:
            Tensor: ``(3, 3, M, P, N)`` positives: the union of the top-``k``
            sets of the same query over the two other maps, intersected
            with the query image's global set (empty for absent
            combinations).
        """
        both = present[:, None] & present[None]
        part_nbrs = topk_mask(logits, self.k) & both[..., None, None]
        others = torch.stack([
            part_nbrs[:, [j for j in range(3) if j != t]].any(1)
            for t in range(3)
        ], 1)
        return others & neighbours[:, None, :, None] & \
            both[..., None, None]

    def loss(self, feats: Dict[str, torch.Tensor],
             data_samples: List[VIReIDDataSample]) -> Dict[str, torch.Tensor]:
        """GPCR losses of a paired batch.

        Args:
            feats (dict[str, Tensor]): The batch's features by name:
                ``'global'`` ``(B, D)``; optionally ``'pairs'`` ``(M, 3)``
                (default: :func:`pair_rows` of ``data_samples`` and
                :attr:`modalities`) and ``'aligned_parts'`` ``(3, 3, M, P,
                C)`` (:meth:`FGSALHead.aligned_features` of those pairs;
                without them only the global term is computed).
            data_samples (list[VIReIDDataSample]): One per row.

        Returns:
            dict: ``loss_global`` and, with part features and part
            memories, ``loss_part`` (both weighted by the loss's
            ``loss_weight``; zeros keeping the graph when no row has a
            positive).

        Raises:
            ValueError: No pairs given and no pseudo-labels came yet.
        """
        global_feats = feats['global']
        part_feats = feats.get('aligned_parts')
        pairs = feats.get('pairs')
        if pairs is None:
            modalities = check_two_modalities(self.modalities,
                                              type(self).__name__)
            pairs = pair_rows(data_samples, modalities)
        zero = global_feats.sum() * 0
        use_parts = part_feats is not None and self.num_parts > 0
        losses = dict(loss_global=zero)
        if use_parts:
            losses['loss_part'] = zero + part_feats.sum() * 0
        if not len(pairs):
            # the (collective) memory updates run on every rank, even one
            # without pairs
            self._update(global_feats, data_samples, pairs, part_feats)
            return losses
        device = global_feats.device
        present = (pairs >= 0).t().to(device)
        rows = torch.where(pairs >= 0, pairs, pairs[:, :1]).t().to(device)
        glob = F.normalize(global_feats[rows], dim=-1)  # (3, M, D)
        both = present[:, None] & present[None]  # (3, 3, M)
        parts = F.normalize(part_feats, dim=-1) if use_parts else None
        global_terms, part_terms = [], []
        for memory in self.memories:
            if not memory.num_instances:
                continue
            bank = self._bank(memory.features).to(glob.dtype)
            logits = glob @ bank.t() / self.temperature  # (3, M, N)
            neighbours, shared = self.global_positives(logits, present)
            term = self.loss_fn(logits, shared.expand_as(logits), present)
            if term is not None:
                global_terms.append(term)
            if parts is None or not memory.has_parts:
                continue
            part_bank = self._bank(memory.part_features).to(parts.dtype)
            logits = torch.einsum('qtmpc,npc->qtmpn', parts,
                                  part_bank) / self.temperature
            positives = self.part_positives(logits, present, neighbours)
            rows_ok = both[..., None].expand(logits.shape[:-1])
            term = self.loss_fn(logits, positives, rows_ok, per_group=True)
            if term is not None:
                part_terms.append(term)
        if global_terms:
            losses['loss_global'] = sum(global_terms)
        if use_parts and part_terms:
            losses['loss_part'] = sum(part_terms)
        self._update(global_feats, data_samples, pairs, part_feats)
        return losses

    def _update(self, feats: torch.Tensor,
                data_samples: List[VIReIDDataSample], pairs: torch.Tensor,
                part_feats: Optional[torch.Tensor]) -> None:
        if not self.momentum_update:
            return
        index = torch.tensor([s.sample_idx for s in data_samples])
        pairs = pairs.cpu()
        for member, memory in zip(PLAIN_MEMBERS, self.memories):
            row = pairs[:, member]
            own = None if part_feats is None or not memory.has_parts else \
                part_feats[member, member]
            memory.update(feats[row.to(feats.device)].detach(), index[row],
                          None if own is None else own.detach())
