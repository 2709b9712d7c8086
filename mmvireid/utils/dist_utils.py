"""What every rank must agree on in a distributed run.

mmvireid's buffer policy (the same on CPUs and GPUs):

- **Rank-synchronised state** (memory banks): every buffer a module lists
  in its ``resizable_buffers``. Each rank keeps it identical itself: the
  pseudo-labels come from rank 0 by broadcast (the model keeps them as a
  table, not as buffers, and writes them into each batch), and memory updates
  are gathered across ranks (:func:`all_gather_rows`) so that every rank
  applies the same update, in rank order. DDP neither broadcasts nor
  reduces these buffers (:func:`rank_synchronised_buffers`): broadcasting
  them would cost a copy of every memory bank per step and, on top of a
  local update, lose ``(N - 1) / N`` of the updates.
- **Other buffers** (BatchNorm running statistics): rank 0's are
  authoritative. DDP broadcasts them from rank 0 before every training
  forward (DDP's default buffer sync), and :func:`broadcast_buffers` does
  it again at the end of every training epoch, so feature extraction,
  validation and the saved checkpoint all use the same statistics on every
  rank. (Batch statistics over the global batch need SyncBN:
  ``sync_bn='torch'`` in the config, GPUs only.)
"""
from typing import List, Sequence

import torch
import torch.nn as nn
from mmengine.dist import all_gather, broadcast, get_world_size


def all_gather_rows(*tensors: torch.Tensor) -> List[torch.Tensor]:
    """Concatenate, in rank order, the rows each rank holds.

    Every tensor of a rank has the same number of rows (its first
    dimension), which may differ between ranks and may be 0. In a
    single-process run the tensors are returned as they are.

    This is a collective call: in a distributed run every rank must call it
    at the same point, with the same number of tensors of the same dtypes
    and trailing shapes.

    Args:
        *tensors (Tensor): Row tensors of this rank, on the device of the
            process group's backend.

    Returns:
        list[Tensor]: For each input, the rows of rank 0, then of rank 1...
    """
    if not tensors:
        return []
    num_rows = tensors[0].size(0)
    for tensor in tensors[1:]:
        if tensor.size(0) != num_rows:
            raise ValueError('all_gather_rows: tensors with different row '
                             f'counts ({num_rows} and {tensor.size(0)})')
    if get_world_size() == 1:
        return list(tensors)
    sizes = all_gather(
        torch.tensor([num_rows], dtype=torch.long, device=tensors[0].device))
    sizes = torch.cat(sizes).tolist()
    largest = max(sizes)
    if largest == 0:
        return list(tensors)
    gathered = []
    for tensor in tensors:
        padded = tensor.new_zeros((largest, ) + tuple(tensor.shape[1:]))
        padded[:num_rows] = tensor
        parts = all_gather(padded)
        gathered.append(
            torch.cat([part[:size] for part, size in zip(parts, sizes)]))
    return gathered


def rank_synchronised_buffers(model: nn.Module) -> List[str]:
    """Full names of the buffers every rank keeps identical itself.

    Those listed in the ``resizable_buffers`` of ``model``'s sub-modules
    (memories, pseudo-labels; see
    :class:`~mmvireid.models.utils.ResizableBuffersMixin`).
    """
    names = []
    for prefix, module in model.named_modules():
        for name in getattr(module, 'resizable_buffers', ()):
            if name in module._buffers:
                names.append(f'{prefix}.{name}' if prefix else name)
    return names


def broadcast_buffers(model: nn.Module,
                      skip: Sequence[str] = None,
                      src: int = 0) -> int:
    """Broadcast ``model``'s buffers from rank ``src``, except ``skip``.

    Args:
        model (nn.Module): The (unwrapped) model.
        skip (Sequence[str], optional): Buffer names left alone; defaults to
            :func:`rank_synchronised_buffers`.
        src (int): Source rank. Defaults to 0.

    Returns:
        int: The number of buffers broadcast (0 in a single process).
    """
    if get_world_size() == 1:
        return 0
    skip = set(rank_synchronised_buffers(model) if skip is None else skip)
    count = 0
    for name, buffer in model.named_buffers():
        if name in skip:
            continue
        broadcast(buffer, src)
        count += 1
    return count
