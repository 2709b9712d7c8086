"""DDP wrapper that leaves rank-synchronised state (memories, labels) alone."""
from typing import Dict, Union

import torch
import torch.nn as nn
from mmengine.model import MMDistributedDataParallel
from mmengine.optim import OptimWrapper, OptimWrapperDict
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

    def train_step(
        self, data: Union[dict, tuple,
                          list], optim_wrapper: Union[OptimWrapper,
                                                      OptimWrapperDict]
    ) -> Dict[str, torch.Tensor]:
        """``MMDistributedDataParallel.train_step`` for one optimiser.

        Raises:
            NotImplementedError: Several optimisers (an
                ``OptimWrapperDict``): the model's joint step and the
                heads' alternating-update hook (``ReIDer.train_step``) run
                their forward outside DDP, so gradients would not be
                reduced across ranks; they run in one process for now.
        """
        if isinstance(optim_wrapper, OptimWrapperDict):
            raise NotImplementedError(
                'several optimisers (MultiOptimWrapperConstructor) train in '
                'one process for now: ReIDer.train_step runs its forward '
                'outside DDP, which would leave the gradients unreduced '
                'across ranks; launch without a distributed launcher')
        return super().train_step(data, optim_wrapper)
