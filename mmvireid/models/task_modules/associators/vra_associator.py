"""MCF's varied regional alignment: greedy capped cluster matching."""
import torch
import torch.nn.functional as F

from mmvireid.registry import TASK_UTILS
from .base_associator import Association, BaseAssociator, ClusterSet


def greedy_capped_matching(scores: torch.Tensor,
                           max_matches: int) -> torch.Tensor:
    """Greedy matching of rows to columns, each column taken at most
    ``max_matches`` times and each row at most once.

    Equal to repeatedly taking the arg-max of the remaining valid entries
    (ties: the smallest row-major index, as :func:`torch.argmax`), then
    removing its row, and its column once used ``max_matches`` times; it
    stops when every row is matched or every column is full. Computed with
    one stable sort of all scores and one pass over them: an entry that
    became invalid stays invalid, so the first valid entry in the sorted
    order is always the next arg-max.

    Args:
        scores (Tensor): ``(K_src, K_dst)`` finite float scores.
        max_matches (int): Cap ``μ`` on the rows matched to one column.

    Returns:
        Tensor: ``(K_src,)`` int64 column matched to each row, ``-1`` for
        none (only when ``K_src > μ·K_dst``).
    """
    num_src, num_dst = scores.shape
    match = [-1] * num_src
    limit = min(num_src, max_matches * num_dst)
    if limit:
        order = torch.sort(scores.flatten(), descending=True, stable=True)[1]
        rows, cols = (order // num_dst).tolist(), (order % num_dst).tolist()
        used = [0] * num_dst
        picks = 0
        for row, col in zip(rows, cols):
            if match[row] < 0 and used[col] < max_matches:
                match[row] = col
                used[col] += 1
                picks += 1
                if picks == limit:
                    break
    return torch.tensor(match, dtype=torch.long, device=scores.device)


@TASK_UTILS.register_module()
class VRAAssociator(BaseAssociator):
    """MCF's varied regional alignment (VRA).

    Sun, Du and Gao, "A Multimodule Collaborative Framework for Unsupervised
    Visible-Infrared Person Re-Identification with Channel Enhancement
    Modality", Sec. 3.3 (matching) and 3.5 (uniform merging).

    Features are the concatenation of ``num_regions`` region features
    (``D = num_regions · d``: horizontal stripes, N = 4 on SYSU-MM01, 6 on
    RegDB). The score of source cluster ``i`` and destination cluster ``j``
    is the region-summed mean pairwise instance similarity

    ``S(i, j) = Σ_n 1/(|C_i||C_j|) Σ_{a∈C_i} Σ_{b∈C_j} ⟨x_a^n, y_b^n⟩
    = Σ_n ⟨m_i^n, m_j^n⟩``,

    ``m^n`` being the (un-normalised) mean of a cluster's region-``n``
    features, so ``S`` is one ``K_src × K_dst`` matmul of the concatenated
    region means; no instance pair is formed.

    Matching (our reading of the paper): greedily take the best remaining
    pair (:func:`greedy_capped_matching`); each *destination* cluster is
    matched at most ``max_matches`` (μ = 3) times and each *source* cluster
    at most once, until every source cluster is matched or every
    destination is full (the paper names no score threshold). The paper
    caps each infrared cluster and gives each visible query one cross
    label, which is the hook's ``visible->infrared`` call (infrared is the
    destination). The paper describes no second matching; the associator
    does not know modality names, so the ``infrared->visible`` call runs
    the same rule with the visible clusters capped (each infrared cluster
    joins one visible cluster, a visible cluster takes at most μ of them):
    the "vice versa" of uniform merging [ours].

    Cross labels: every instance of a matched source cluster gets that
    cluster's destination; outliers and unmatched clusters get ``-1``.
    Source clusters matched to one destination thus share its id as cross
    label (what uniform merging merges). ``plan`` is the ``(K_src, K_dst)``
    score matrix ``S`` (in ``[-N, N]`` with normalised regions), not the
    match: because of the cap its row arg-max need not be the matched
    cluster. Read the match from the cross labels (which, unlike plans,
    checkpoints keep).

    Args:
        num_regions (int): Region spaces ``N`` the features are split into;
            must divide the feature dimension. Defaults to 4 (SYSU-MM01).
        max_matches (int): Cap ``μ`` on the source clusters matched to one
            destination cluster. Defaults to 3.
        normalize_regions (bool): L2-normalise each region feature first, so
            that a region's similarity is a cosine. A no-op on per-region
            normalised features, and a concatenation of normalised regions
            normalised as a whole (what feature extraction returns) scores
            as its regions. Defaults to True.
    """

    def __init__(self,
                 num_regions: int = 4,
                 max_matches: int = 3,
                 normalize_regions: bool = True) -> None:
        for key, value in dict(
                num_regions=num_regions, max_matches=max_matches).items():
            if type(value) is not int or value < 1:
                raise ValueError(f'VRAAssociator: {key} must be an int >= 1, '
                                 f'got {value!r}')
        self.num_regions = num_regions
        self.max_matches = max_matches
        self.normalize_regions = normalize_regions

    def region_means(self, clusters: ClusterSet, side: str) -> torch.Tensor:
        """``(K, D)`` concatenated per-region (normalised) feature means of
        ``clusters``' clusters ``0..K-1``; rows of empty clusters are 0.

        Raises:
            ValueError: Features not ``(n, D)`` with ``num_regions``
                dividing ``D`` or labels outside ``-1..K-1``; the message
                names ``side``.
        """
        feats = torch.as_tensor(clusters.features)
        labels = torch.as_tensor(clusters.labels, device=feats.device).long()
        num = clusters.num_clusters
        if feats.dim() != 2 or len(labels) != len(feats):
            raise ValueError(
                f'VRAAssociator: {side} features must be (n, D) with one '
                f'label each, got features {tuple(feats.shape)} and labels '
                f'{tuple(labels.shape)}')
        dim = feats.size(1)
        if dim % self.num_regions:
            raise ValueError(
                f'VRAAssociator: num_regions={self.num_regions} does not '
                f'divide the {side} feature dimension D={dim}; the features '
                'must be the concatenation of num_regions region features')
        if len(labels) and not (-1 <= int(labels.min())
                                and int(labels.max()) < num):
            raise ValueError(
                f'VRAAssociator: {side} labels span {int(labels.min())}..'
                f'{int(labels.max())}, expected -1..{num - 1} ({num} '
                'centroids)')
        if self.normalize_regions:
            feats = F.normalize(
                feats.reshape(
                    len(feats), self.num_regions, dim // self.num_regions),
                dim=2).reshape(len(feats), dim)
        # outliers go to a spare row ``num``, dropped (no masked copy)
        rows = torch.where(labels >= 0, labels, num)
        sums = feats.new_zeros(num + 1, dim).index_add_(0, rows, feats)[:num]
        counts = torch.bincount(rows, minlength=num + 1)[:num].clamp_(min=1)
        return sums / counts.unsqueeze(1).to(sums.dtype)

    def scores(self, source: ClusterSet,
               destination: ClusterSet) -> torch.Tensor:
        """``(K_src, K_dst)`` region-summed mean pairwise similarity ``S``.

        Raises:
            ValueError: Bad features or labels (see :meth:`region_means`),
                the two sides' feature dimensions differ, or a score is not
                finite (non-finite features).
        """
        src = self.region_means(source, 'source')
        dst = self.region_means(destination, 'destination')
        if src.size(1) != dst.size(1):
            raise ValueError(
                f'VRAAssociator: source features have D={src.size(1)}, '
                f'destination features D={dst.size(1)}')
        scores = src @ dst.to(src).t()
        if not bool(torch.isfinite(scores).all()):
            raise ValueError('VRAAssociator: non-finite cluster scores (the '
                             'source or destination features are not '
                             'finite)')
        return scores

    def __call__(self, source: ClusterSet,
                 destination: ClusterSet) -> Association:
        """Cross labels of the matched source clusters and the score matrix
        as ``plan`` (see the class)."""
        scores = self.scores(source, destination)
        match = greedy_capped_matching(scores, self.max_matches)
        labels = torch.as_tensor(source.labels).long().to(match.device)
        cross = torch.full_like(labels, -1)
        kept = labels >= 0
        cross[kept] = match[labels[kept]]
        return Association(cross, scores)
