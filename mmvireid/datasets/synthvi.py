"""SynthVI: the procedural dataset mmvireid generates for itself."""
from typing import Optional

from mmengine.dist import barrier, get_dist_info
from mmengine.logging import print_log

from mmvireid.registry import DATASETS
from .generators import ensure_synthvi
from .sysu_mm01 import SYSUMM01


@DATASETS.register_module()
class SynthVI(SYSUMM01):
    """Procedural visible/infrared pedestrians in SYSU-MM01's layout.

    The tree is generated on first use (rank 0 generates, other ranks wait)
    and cached in ``data_root``; afterwards it is read by the exact
    SYSU-MM01 loader and evaluated with the SYSU-MM01 protocol, so every
    config trains and evaluates end to end without downloads.

    Args:
        data_root (str): Where the tree lives or is generated.
            Defaults to ``'data/synthvi'``.
        generator (dict, optional): Overrides of
            :class:`~mmvireid.datasets.generators.SynthVIConfig` (seed, ids,
            image counts, ``preset``...). A cached tree generated with other
            parameters is never overwritten: choose another ``data_root``.
        **kwargs: :class:`SYSUMM01` arguments (``split``, ``mode``,
            ``trials``, ...).
    """

    expected_counts = None
    dataset_name = 'synthvi'

    def __init__(self,
                 data_root: str = 'data/synthvi',
                 generator: Optional[dict] = None,
                 **kwargs) -> None:
        self.generator = dict(generator or {})
        rank, _ = get_dist_info()
        if rank == 0:
            manifest = ensure_synthvi(data_root, **self.generator)
            print_log(
                f'SynthVI at {data_root}: {manifest.get("counts", {})}',
                logger='current')
        barrier()
        if rank != 0:
            ensure_synthvi(data_root, **self.generator)
        super().__init__(data_root, **kwargs)
