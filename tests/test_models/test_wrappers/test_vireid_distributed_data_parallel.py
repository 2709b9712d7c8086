import pytest
import torch
from mmengine.optim import OptimWrapper, OptimWrapperDict

from mmvireid.models import VIReIDDistributedDataParallel


def test_several_optimisers_are_refused_with_a_reason():
    """The joint step and the alternating hook of ReIDer.train_step run
    their forward outside DDP: under DDP they would not reduce gradients,
    so the wrapper says so instead of training wrongly."""
    param = torch.nn.Parameter(torch.zeros(1))
    wrappers = OptimWrapperDict(
        a=OptimWrapper(torch.optim.SGD([param], lr=0.1)))
    with pytest.raises(NotImplementedError, match='one process'):
        # the check comes before anything of the (here absent) DDP state
        VIReIDDistributedDataParallel.train_step(object(), {}, wrappers)
