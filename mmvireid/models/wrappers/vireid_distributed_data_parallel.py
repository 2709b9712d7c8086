"""DDP wrapper that leaves rank-synchronised state (memories, labels) alone."""
import torch.nn as nn
from mmengine.model import MMDistributedDataParallel
from torch.nn.parallel import DistributedDataParallel

from mmvireid.registry import MODEL_WRAPPERS
from mmvireid.utils.dist_utils import rank_synchronised_buffers


@MODEL_WRAPPERS.register_module()
class VIReIDDistributedDataParallel(MMDistributedDataParallel):
    """``MMDistributedDataParallel`` with mmvireid's buffer policy.

    The buffers every rank keeps identical itself (memories and
    pseudo-labels, :func:`~mmvireid.utils.dist_utils.
    rank_synchronised_buffers`) are excluded from DDP: never broadcast,
    so no memory update of another rank is overwritten, and no bank is
    copied at every step. The other buffers (BatchNorm statistics) are
    broadcast from rank 0 before every training forward (DDP's default,
    kept on CPUs and GPUs alike: the launch tools no longer turn it off).
    See :mod:`mmvireid.utils.dist_utils` for the whole policy.

    Args:
        module (nn.Module): The model.
        **kwargs: ``MMDistributedDataParallel`` /
            ``DistributedDataParallel`` arguments (``device_ids``,
            ``find_unused_parameters``...).
    """

    def __init__(self, module: nn.Module, **kwargs) -> None:
        DistributedDataParallel._set_params_and_buffers_to_ignore_for_model(
            module, rank_synchronised_buffers(module))
        super().__init__(module=module, **kwargs)
