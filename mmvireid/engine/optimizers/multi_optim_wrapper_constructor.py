"""One optimiser wrapper per sub-module of the model."""
from typing import Dict, List, Optional, Set, Tuple

import torch.nn as nn
from mmengine.model import is_model_wrapper
from mmengine.optim import OptimWrapper, OptimWrapperDict

from mmvireid.registry import OPTIM_WRAPPER_CONSTRUCTORS

# at most this many parameter names in an error message
_SHOWN = 10


def _listed(names: List[str]) -> str:
    """``names`` for an error message, the first :data:`_SHOWN` of them."""
    shown, more = ', '.join(names[:_SHOWN]), len(names) - _SHOWN
    return f'{shown} and {more} more' if more > 0 else shown


@OPTIM_WRAPPER_CONSTRUCTORS.register_module()
class MultiOptimWrapperConstructor:
    """Build an :class:`~mmengine.optim.OptimWrapperDict`: one optimiser
    wrapper per sub-module, each with its own optimiser and
    ``paramwise_cfg``.

    Every entry of the config is an ordinary optimiser wrapper config
    (``type``, ``optimizer``, ``paramwise_cfg``, ``clip_grad``,
    ``accumulative_counts``...), built by mmengine's
    :class:`~mmengine.optim.DefaultOptimWrapperConstructor` (or the
    ``constructor`` the entry names) on one sub-module of the unwrapped
    model. The entry's key is the sub-module's dotted path
    (``'backbone'``, ``'head.adversary'``), or a plain name with the path
    in ``module`` (``adversary=dict(module='head.adversary', ...)``, which
    ``--cfg-options optim_wrapper.adversary.optimizer.lr=...`` can reach). The
    key ``'rest'`` takes every trainable parameter no other entry covers;
    its ``paramwise_cfg`` sees the model's parameter names from the root,
    another entry's sees them relative to its sub-module (a ``custom_keys``
    key ``'adapter'`` matches ``'blocks.0.adapter.up.weight'``).

    Every trainable parameter (``requires_grad``) belongs to exactly one
    entry. Frozen parameters are left out of every optimiser (so a stage
    that unfreezes some later needs its optimiser rebuilt), which is what
    makes a frozen encoder with trainable adapters or prompts a plain
    config (the CLIP methods)::

        optim_wrapper = dict(
            constructor='MultiOptimWrapperConstructor',
            # the prompt learner: its own optimiser
            prompts=dict(
                module='head.prompt_learner',
                type='OptimWrapper',
                optimizer=dict(type='Adam', lr=3.5e-4, weight_decay=5e-4)),
            # the frozen image encoder: only its adapters are trainable,
            # so only they land here, at 10x the learning rate
            rest=dict(
                type='OptimWrapper',
                optimizer=dict(type='Adam', lr=3.5e-5, weight_decay=5e-4),
                paramwise_cfg=dict(
                    custom_keys={'adapter': dict(lr_mult=10.)})))

    MCF's modality adversary (alternating updates, see
    :meth:`~mmvireid.models.ReIDer.train_step`)::

        optim_wrapper = dict(
            constructor='MultiOptimWrapperConstructor',
            adversary=dict(
                module='head.adversary', type='OptimWrapper',
                optimizer=dict(type='SGD', lr=3.5e-4, momentum=0.9)),
            rest=dict(
                type='OptimWrapper',
                optimizer=dict(type='SGD', lr=3.5e-4, momentum=0.9,
                               weight_decay=5e-4)))

    The keys name the wrappers of the dict (``param_scheduler`` may be a
    dict with the same keys) and prefix their learning rates in the logs.

    Args:
        optim_wrapper_cfg (dict): The entries, by key (what
            :func:`mmengine.optim.build_optim_wrapper` passes on of
            ``optim_wrapper`` once it took out ``constructor``).
        paramwise_cfg (dict, optional): Must be None: each entry has its
            own ``paramwise_cfg``.

    Raises:
        ValueError: At build time, an entry that is not an optimiser
            wrapper config or a ``paramwise_cfg`` for all entries; when
            called, an unknown sub-module path, parameters in two entries,
            trainable parameters in none (without ``'rest'``) or an entry
            with no trainable parameter, each named with its keys.
    """

    REST = 'rest'

    def __init__(self,
                 optim_wrapper_cfg: dict,
                 paramwise_cfg: Optional[dict] = None) -> None:
        if paramwise_cfg is not None:
            raise ValueError(
                'MultiOptimWrapperConstructor takes one paramwise_cfg per '
                'entry (optim_wrapper.<key>.paramwise_cfg), not one for all')
        if not optim_wrapper_cfg:
            raise ValueError('MultiOptimWrapperConstructor needs at least '
                             'one entry, e.g. backbone=dict(type='
                             "'OptimWrapper', optimizer=...)")
        self.entries: Dict[str, Tuple[str, object]] = {}
        for key, cfg in optim_wrapper_cfg.items():
            if not isinstance(cfg, dict) or 'optimizer' not in cfg:
                raise ValueError(
                    f'optim_wrapper entry {key!r} must be an optimiser '
                    f'wrapper config with an "optimizer", got {cfg!r} (a '
                    "config replacing its base's optim_wrapper needs "
                    '_delete_=True)')
            cfg = dict(cfg)
            path = cfg.pop('module', key)
            if key == self.REST and path != key:
                raise ValueError(f"optim_wrapper entry '{self.REST}' takes "
                                 'the parameters of no other entry; it has '
                                 f'no module (got {path!r})')
            constructor_type = cfg.pop('constructor',
                                       'DefaultOptimWrapperConstructor')
            entry_paramwise = cfg.pop('paramwise_cfg', None)
            constructor = OPTIM_WRAPPER_CONSTRUCTORS.build(
                dict(
                    type=constructor_type,
                    optim_wrapper_cfg=cfg,
                    paramwise_cfg=entry_paramwise))
            self.entries[key] = (path, constructor)

    def __call__(self, model: nn.Module) -> OptimWrapperDict:
        """Build every entry's wrapper on its sub-module.

        Args:
            model (nn.Module): The model, possibly in a model wrapper.

        Returns:
            OptimWrapperDict: The wrappers, by entry key, in config order.
        """
        if is_model_wrapper(model):
            model = model.module
        names = {id(p): n for n, p in model.named_parameters()}
        trainable = [id(p) for p in model.parameters() if p.requires_grad]
        modules = {
            key: self._submodule(model, key, path)
            for key, (path, _) in self.entries.items() if key != self.REST
        }
        owned = {
            key: [id(p) for p in module.parameters() if p.requires_grad]
            for key, module in modules.items()
        }
        owner: Dict[int, str] = {}
        clashes: Dict[str, List[str]] = {}
        for key, ids in owned.items():
            for i in ids:
                if i in owner:
                    clashes.setdefault(names[i], [owner[i]]).append(key)
                else:
                    owner[i] = key
        if clashes:
            raise ValueError('optim_wrapper entries overlap: ' + _listed([
                f'{name} (in {", ".join(map(repr, keys))})'
                for name, keys in clashes.items()
            ]) + '; every trainable parameter belongs to one entry')
        uncovered = [i for i in trainable if i not in owner]
        if self.REST in self.entries:
            modules[self.REST], owned[self.REST] = model, uncovered
        elif uncovered:
            raise ValueError(
                'trainable parameters in no optim_wrapper entry (entries: '
                f'{", ".join(map(repr, self.entries))}): ' +
                _listed([names[i] for i in uncovered]) +
                f"; add an entry for them or a '{self.REST}' entry, or "
                'freeze them (requires_grad=False)')
        wrappers = {}
        for key, (path, constructor) in self.entries.items():
            if not owned[key]:
                raise ValueError(
                    f'optim_wrapper entry {key!r} ({path!r}) has no '
                    'trainable parameter (all frozen or in other entries)')
            wrapper = constructor(modules[key])
            self._keep_only(wrapper, set(owned[key]), key, names)
            wrappers[key] = wrapper
        return OptimWrapperDict(**wrappers)

    @staticmethod
    def _submodule(model: nn.Module, key: str, path: str) -> nn.Module:
        """The sub-module at dotted ``path`` of ``model``."""
        try:
            return model.get_submodule(path)
        except AttributeError:
            raise ValueError(
                f'optim_wrapper entry {key!r}: {type(model).__name__} has no '
                f'sub-module {path!r}') from None

    @staticmethod
    def _keep_only(wrapper: OptimWrapper, keep: Set[int], key: str,
                   names: Dict[int, str]) -> None:
        """Drop from the fresh ``wrapper``'s optimiser every parameter not
        in ``keep`` (frozen, or another entry's for ``'rest'``), and the
        groups left empty; it has no state yet. mmengine's default
        constructor without a ``paramwise_cfg`` hands the optimiser all
        ``module.parameters()``, frozen ones included."""
        optimizer = wrapper.optimizer
        groups = []
        for group in optimizer.param_groups:
            group['params'] = [p for p in group['params'] if id(p) in keep]
            if group['params']:
                groups.append(group)
        optimizer.param_groups[:] = groups
        held = {id(p) for group in groups for p in group['params']}
        if held != keep:
            raise ValueError(
                f'the constructor of optim_wrapper entry {key!r} left out '
                'trainable parameters: ' +
                _listed([n for i, n in names.items() if i in keep - held]))
