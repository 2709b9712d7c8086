"""Data sample carrying the identity annotations of one ReID image."""
from typing import Optional

from mmengine.structures import BaseDataElement

MODALITIES = ('visible', 'infrared')


class VIReIDDataSample(BaseDataElement):
    """Annotations of one visible or infrared person image.

    Meta fields (fixed per image): ``img_path``, ``sample_idx``, ``camid``
    (raw camera number, e.g. 1..6 on SYSU-MM01), ``modality`` (``'visible'``
    or ``'infrared'``) and ``role`` (``'train'``, ``'query'`` or
    ``'gallery'``).

    Data fields: ``pid`` (the true identity: evaluation and diagnostics
    only, never visible to unsupervised losses), ``pseudo_label`` (assigned
    by clustering hooks, ``-1`` for outliers) and ``pred_feature`` (the
    retrieval feature written by ``predict``).
    """

    def set_identity(self,
                     pid: int,
                     camid: int,
                     modality: str,
                     role: Optional[str] = None) -> 'VIReIDDataSample':
        """Set the identity annotations of this sample.

        Args:
            pid (int): True person id.
            camid (int): Raw camera number.
            modality (str): ``'visible'`` or ``'infrared'`` (the real
                modalities, :data:`MODALITIES`), or a virtual modality a
                dataset wrapper or transform declares (e.g.
                ``'augmented'``).
            role (str, optional): ``'train'``, ``'query'`` or ``'gallery'``.

        Returns:
            VIReIDDataSample: ``self``, for chaining.
        """
        if not isinstance(modality, str) or not modality:
            raise ValueError('modality must be a non-empty name (a real '
                             f'modality {MODALITIES} or a virtual one), got '
                             f'{modality!r}')
        self.set_field(int(pid), 'pid')
        self.set_metainfo(dict(camid=int(camid), modality=modality))
        if role is not None:
            self.set_metainfo(dict(role=role))
        return self

    @property
    def is_infrared(self) -> bool:
        """bool: Whether the image comes from an infrared camera."""
        return self.modality == 'infrared'
