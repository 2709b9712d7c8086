"""A virtual modality's images take the clusters of the images they view."""
from typing import Mapping, Sequence, Tuple

import torch

from mmvireid.registry import TASK_UTILS
from mmvireid.structures import PseudoLabels
from .base_clusterer import BaseClusterer


@TASK_UTILS.register_module()
class ViewFollowingClusterer(BaseClusterer):
    """Cluster the real modalities; give each view its source's cluster.

    MCF treats channel-augmented visible images as a modality of their own
    (a :class:`~mmvireid.datasets.VirtualModalityDataset` ``'augmented'``)
    with its own memory, while its pseudo-labels follow the visible images
    they are views of. This clusterer runs ``clusterer`` on the modalities
    not in ``follow`` only, then labels every sample of a ``follow``
    modality with the cluster of its source image
    (``PseudoLabels.view_sources``, which the clustering hook takes from
    the dataset's ``get_view_sources()``): a following modality's label
    space is its source modality's (same ``K``, same cluster ids), and a
    view of an outlier is an outlier. To cluster the views separately
    instead, use the inner clusterer alone.

    Args:
        clusterer (dict): Config of the clusterer of the real modalities,
            e.g. ``dict(type='JaccardDBSCAN', eps=0.6)``.
        follow (Sequence[str]): The modalities whose samples take their
            source's labels, e.g. ``('augmented',)``.
    """

    def __init__(self, clusterer: dict, follow: Sequence[str]) -> None:
        if isinstance(follow, str):
            follow = (follow, )
        self.follow = tuple(follow)
        if not self.follow:
            raise ValueError('ViewFollowingClusterer: follow names no '
                             'modality; use the inner clusterer alone')
        self.clusterer: BaseClusterer = TASK_UTILS.build(clusterer)

    def _clustered(self, modalities: Sequence[str]) -> Tuple[str, ...]:
        return tuple(m for m in modalities if m not in self.follow)

    def check(self, modalities: Tuple[str, ...]) -> None:
        """Every ``follow`` modality is declared and at least one is not
        followed; the inner clusterer checks the others."""
        unknown = [m for m in self.follow if m not in modalities]
        if unknown:
            raise ValueError(
                f'ViewFollowingClusterer: follow={list(self.follow)} names '
                f'{unknown}, which the dataset does not declare '
                f'{tuple(modalities)}')
        clustered = self._clustered(modalities)
        if not clustered:
            raise ValueError('ViewFollowingClusterer: every modality '
                             f'{tuple(modalities)} follows; none is clustered')
        self.clusterer.check(clustered)

    def check_sizes(self,
                    counts: Mapping[str, int],
                    key: str = 'clusterer') -> None:
        """The inner clusterer's check, on the clustered modalities."""
        self.clusterer.check_sizes(
            {
                m: n
                for m, n in counts.items() if m not in self.follow
            }, f'{key}.clusterer')

    def describe(self, modality: str) -> str:
        """A following modality's clusters are its sources'."""
        if modality in self.follow:
            return 'labels follow the images it is a view of'
        return self.clusterer.describe(modality)

    def __call__(self, pl: PseudoLabels) -> PseudoLabels:
        """Inner clusters of the real modalities; sources' for the views.

        Raises:
            ValueError: The pseudo-labels carry no ``view_sources``, or a
                following sample has no source, or one in another
                following modality.
        """
        following = torch.tensor([m in self.follow for m in pl.modalities])
        rows = following[pl.modality_ids]
        if pl.view_sources is None:
            raise ValueError(
                'ViewFollowingClusterer: the training set gives no view '
                'sources (a VirtualModalityDataset does, through '
                'get_view_sources()); without them the follow='
                f'{list(self.follow)} modalities cannot take their '
                "sources' labels")
        sources = pl.view_sources[rows]
        if len(sources) and (bool(
            (sources < 0).any()) or bool(rows[sources].any())):
            raise ValueError(
                'ViewFollowingClusterer: every sample of the follow='
                f'{list(self.follow)} modalities needs a source image of a '
                'clustered modality (view_sources)')
        clustered = self._clustered(pl.modalities)
        kept = torch.nonzero(~rows).squeeze(1)
        # the clustered modalities alone, renumbered 0..len(clustered)-1
        renumber = torch.cumsum(~following, 0) - 1
        inner = PseudoLabels(
            modalities=clustered,
            modality_ids=renumber[pl.modality_ids[kept]],
            labels=pl.labels[kept],
            features=_rows(pl.features, kept),
            part_features=_rows(pl.part_features, kept),
            pids=_rows(pl.pids, kept),
            epoch=pl.epoch)
        labels = torch.full_like(pl.labels, -1)
        labels[kept] = self.clusterer(inner).labels
        labels[rows] = labels[sources]
        return pl.with_fields(labels=labels)


def _rows(value, index: torch.Tensor):
    return None if value is None else value[index]
