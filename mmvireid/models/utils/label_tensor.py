"""Labels handed over by the hooks (numpy or torch) as long tensors."""
from typing import Union

import numpy as np
import torch


def as_long_tensor(values: Union[np.ndarray, torch.Tensor, list],
                   device: Union[str, torch.device]) -> torch.Tensor:
    """``values`` as an int64 tensor on ``device`` (no copy when it is
    already one there)."""
    if isinstance(values, torch.Tensor):
        return values.to(device=device, dtype=torch.long)
    return torch.as_tensor(np.asarray(values), dtype=torch.long).to(device)
