"""One training iteration of a model with a modality adversary (MCF's MAAL):
the adversary's own step, then the main step."""
from contextlib import ExitStack
from typing import Dict, Union

import torch
from mmengine.model import BaseModel
from mmengine.optim import OptimWrapperDict

from .joint_train_step import check_joint_wrappers, update_jointly


def adversarial_train_step(
        model: BaseModel,
        data: Union[dict, tuple, list],
        optim_wrapper: OptimWrapperDict,
        adversary: torch.nn.Module,
        adversary_key: str = 'adversary') -> Dict[str, torch.Tensor]:
    """Alternate the adversary's update and the main update in one step.

    One forward of the batch (inside the main wrappers' ``optim_context``)
    gives the features and the head's losses, including the adversary's
    alignment loss (its parameters used as constants); then

    1. the adversary's wrapper (``optim_wrapper[adversary_key]``) steps on
       ``adversary.classifier_loss`` of the detached features: only the
       classifier gets gradients;
    2. the other wrappers step together on the head's summed loss, with
       one backward (:func:`~.joint_train_step.update_jointly`): the
       classifier gets none.

    So each step updates only its own parameters (the adversary's wrapper
    must hold exactly the adversary's: ``MultiOptimWrapperConstructor``
    with e.g. ``adversary=dict(module='head.adversary', ...)``). Called by
    a head's ``train_step`` hook (see :meth:`mmvireid.models.ReIDer.
    train_step`).

    Args:
        model (BaseModel): The (unwrapped) ReIDer.
        data (dict | tuple | list): A batch from the dataloader.
        optim_wrapper (OptimWrapperDict): The adversary's wrapper and the
            others.
        adversary (nn.Module): The module with ``classifier_loss(feats,
            data_samples)`` (e.g. :class:`~mmvireid.models.
            ModalityAdversary`).
        adversary_key (str): The adversary's entry. Defaults to
            ``'adversary'``.

    Returns:
        dict[str, Tensor]: The log variables: the head's losses and
        ``loss``, plus the adversary's ``loss_modality_cls`` and
        ``modality_acc``.

    Raises:
        KeyError: ``optim_wrapper`` has no ``adversary_key`` entry, or no
            other.
    """
    if adversary_key not in optim_wrapper:
        raise KeyError(
            f'adversarial_train_step: optim_wrapper has no {adversary_key!r}'
            f' entry (it has {list(optim_wrapper.keys())}); give the '
            'adversary its own optimiser, e.g. optim_wrapper=dict(constructor='
            f"'MultiOptimWrapperConstructor', {adversary_key}=dict(module="
            "'head.adversary', ...), rest=dict(...))")
    main = {k: w for k, w in optim_wrapper.items() if k != adversary_key}
    if not main:
        raise KeyError('adversarial_train_step: optim_wrapper has only the '
                       f'{adversary_key!r} entry; the rest of the model needs '
                       'one too')
    check_joint_wrappers(main)
    with ExitStack() as contexts:
        for wrapper in main.values():
            contexts.enter_context(wrapper.optim_context(model))
        data = model.data_preprocessor(data, True)
        losses, feats = model.loss_and_features(data['inputs'],
                                                data['data_samples'])
    adversary_wrapper = optim_wrapper[adversary_key]
    with adversary_wrapper.optim_context(adversary):
        classified = adversary.classifier_loss(feats, data['data_samples'])
    adversary_wrapper.update_params(classified['loss_modality_cls'])
    parsed, log_vars = model.parse_losses(losses)
    update_jointly(list(main.values()), parsed)
    log_vars.update({k: v.detach() for k, v in classified.items()})
    return log_vars
