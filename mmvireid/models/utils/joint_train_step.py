"""One training step shared by several optimisers (an ``OptimWrapperDict``)."""
from contextlib import ExitStack
from typing import Dict, List, Mapping, Union

import torch
from mmengine.model import BaseModel
from mmengine.optim import OptimWrapper, OptimWrapperDict


def joint_train_step(
        model: BaseModel, data: Union[dict, tuple, list],
        optim_wrapper: OptimWrapperDict) -> Dict[str, torch.Tensor]:
    """One forward and one backward of the summed loss; every wrapper steps.

    The forward runs inside every wrapper's ``optim_context``; the loss is
    scaled once for gradient accumulation; each wrapper then counts the
    iteration and, when its accumulation window is full, steps and zeroes
    its gradients: :meth:`~mmengine.optim.OptimWrapper.update_params` with
    the backward shared (see :meth:`mmvireid.models.ReIDer.train_step`).

    Args:
        model (BaseModel): The (unwrapped) model.
        data (dict | tuple | list): A batch from the dataloader.
        optim_wrapper (OptimWrapperDict): One wrapper per sub-module.

    Returns:
        dict[str, Tensor]: The log variables.

    Raises:
        TypeError: A wrapper with its own backward (e.g. an
            ``AmpOptimWrapper``).
        ValueError: Wrappers that accumulate gradients differently.
    """
    wrappers = list(optim_wrapper.values())
    check_joint_wrappers(optim_wrapper)
    with ExitStack() as contexts:
        for wrapper in wrappers:
            contexts.enter_context(wrapper.optim_context(model))
        data = model.data_preprocessor(data, True)
        losses = model._run_forward(data, mode='loss')
    parsed_losses, log_vars = model.parse_losses(losses)
    update_jointly(wrappers, parsed_losses)
    return log_vars


def check_joint_wrappers(optim_wrapper: Mapping[str, OptimWrapper]) -> None:
    """The wrappers can share one backward: none has its own (e.g. an
    ``AmpOptimWrapper``'s loss scaler) and all accumulate alike.

    Raises:
        TypeError: A wrapper with its own backward.
        ValueError: Wrappers that accumulate gradients differently.
    """
    own = [
        k for k, w in optim_wrapper.items()
        if type(w).backward is not OptimWrapper.backward
    ]
    if own:
        raise TypeError(
            f'a joint step shares one backward, but the wrappers {own} '
            'have their own backward (e.g. an AmpOptimWrapper): give '
            'the head a train_step hook that steps each one')
    factors = {
        k: w.scale_loss(torch.ones(())).item()
        for k, w in optim_wrapper.items()
    }
    if len(set(factors.values())) > 1:
        raise ValueError(
            'a joint step scales one loss for gradient accumulation, but '
            f'the wrappers scale it differently ({factors}): give them '
            'the same accumulative_counts')


def update_jointly(wrappers: List[OptimWrapper], loss: torch.Tensor) -> None:
    """``update_params`` of every wrapper with one backward of ``loss``.

    The loss is scaled once for gradient accumulation; the first wrapper's
    backward counts its iteration, the others count theirs as
    ``OptimWrapper.backward`` does; each wrapper then steps and zeroes its
    gradients when its accumulation window is full.

    Args:
        wrappers (list[OptimWrapper]): Checked by
            :func:`check_joint_wrappers`.
        loss (Tensor): The summed loss.
    """
    wrappers[0].backward(wrappers[0].scale_loss(loss))
    for wrapper in wrappers[1:]:
        wrapper._inner_count += 1
    for wrapper in wrappers:
        if wrapper.should_update():
            wrapper.step()
            wrapper.zero_grad()
