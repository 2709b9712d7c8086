"""Buffers whose shape changes during training, loadable from checkpoints."""
from typing import Tuple

import torch


class ResizableBuffersMixin:
    """Load buffers of any saved shape (memory banks).

    Memory banks are re-sized every epoch (the number of
    clusters changes), so a checkpoint's tensors rarely have the shape of a
    freshly built module's. Listed buffers are re-allocated with the saved
    shape and dtype (on their current device) before the normal loading.
    Put the mixin before the ``nn.Module`` base class.

    Attributes:
        resizable_buffers (tuple[str]): Names of the resizable buffers.
    """

    resizable_buffers: Tuple[str, ...] = ()

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):
        for name in self.resizable_buffers:
            key = prefix + name
            current = getattr(self, name, None)
            if key in state_dict and isinstance(current, torch.Tensor):
                setattr(
                    self, name,
                    torch.empty_like(state_dict[key], device=current.device))
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)
