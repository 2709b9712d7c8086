"""Stripe masks, sigmoid part queries and stripe attention (SALCR FGSAL)."""
import math

import torch
import torch.nn.functional as F


def stripe_masks(num_parts: int, height: int, width: int,
                 device: torch.device) -> torch.Tensor:
    """``(P, H*W)`` boolean mask of the pixels of each horizontal stripe.

    Rows are split as evenly as possible (``torch.tensor_split``), so a
    height that ``num_parts`` does not divide still works (e.g. 4 rows, 3
    stripes: 2 + 1 + 1 rows).
    """
    if height < num_parts:
        raise ValueError(f'a feature map of height {height} cannot be cut '
                         f'into {num_parts} stripes')
    chunks = torch.tensor_split(torch.arange(height), num_parts)
    part_of_row = torch.cat(
        [torch.full((len(c), ), i) for i, c in enumerate(chunks)])
    part_of_pixel = part_of_row.repeat_interleave(width).to(device)
    return part_of_pixel[None] == torch.arange(
        num_parts, device=device)[:, None]


def sigmoid_part_queries(pixels: torch.Tensor, prototypes: torch.Tensor,
                         stripes: torch.Tensor) -> torch.Tensor:
    """SALCR Eq. 9: each stripe's pixels averaged with weights σ(p·F).

    Args:
        pixels (Tensor): ``(..., HW, C)`` feature-map pixels.
        prototypes (Tensor): ``(P, C)`` learnable part prototypes.
        stripes (Tensor): ``(P, HW)`` stripe masks.

    Returns:
        Tensor: ``(..., P, C)`` part queries. The weights σ(s) / Σ σ(s) are
        computed as softmax(log σ(s)): the same value without underflow of
        σ for very negative scores.
    """
    scores = torch.einsum('...nc,pc->...pn', pixels,
                          prototypes.to(pixels.dtype))
    weights = torch.softmax(
        F.logsigmoid(scores).masked_fill(~stripes, float('-inf')), -1)
    return weights @ pixels


def stripe_attention(queries: torch.Tensor, pixels: torch.Tensor,
                     stripes: torch.Tensor) -> torch.Tensor:
    """SALCR Eq. 10-11: scaled dot-product attention of each part query
    over its stripe, for every (query member, map member) combination.

    Args:
        queries (Tensor): ``(Q, M, P, C)``.
        pixels (Tensor): ``(T, M, HW, C)``.
        stripes (Tensor): ``(P, HW)`` stripe masks.

    Returns:
        Tensor: ``(Q, T, M, P, C)``.
    """
    scores = torch.einsum('qmpc,tmnc->qtmpn', queries, pixels) / \
        math.sqrt(pixels.size(-1))
    attn = torch.softmax(scores.masked_fill(~stripes, float('-inf')), -1)
    return torch.einsum('qtmpn,tmnc->qtmpc', attn, pixels)
