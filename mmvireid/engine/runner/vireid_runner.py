"""mmengine's ``Runner`` with ``custom_hooks`` keyed by name."""
import copy
from typing import Any, Mapping, Optional

from mmengine.runner import Runner

from mmvireid.registry import RUNNERS
from mmvireid.utils.hook_configs import custom_hooks_as_list, hooks_as_list


@RUNNERS.register_module()
class VIReIDRunner(Runner):
    """:class:`~mmengine.runner.Runner` that also takes ``custom_hooks`` as a
    dict keyed by hook name (see :mod:`mmvireid.utils.hook_configs`).

    mmvireid's configs name it in ``runner_type``
    (``configs/_base_/default_runtime.py``), so mmengine's way of building a
    runner, ``RUNNERS.build(cfg)`` (``mmengine.registry.RUNNERS``), builds
    it; ``Runner.from_cfg(cfg)`` needs ``mmvireid.utils.hooks_as_list(cfg)``
    first. The hooks are turned into mmengine's list before the runner
    registers them, and so is the copy of the config the runner keeps and
    dumps into its work dir, which therefore also loads with mmengine's
    ``Runner``. Everything else is mmengine's.

    Args:
        *args: :class:`~mmengine.runner.Runner`'s arguments.
        custom_hooks (dict | list, optional): Hooks keyed by name (a None
            value removes one) or mmengine's list.
        cfg (Config | dict, optional): The full config.
        **kwargs: :class:`~mmengine.runner.Runner`'s other arguments.
    """

    def __init__(self,
                 *args: Any,
                 custom_hooks: Optional[Any] = None,
                 cfg: Optional[Mapping] = None,
                 **kwargs: Any) -> None:
        if cfg is not None and isinstance(cfg.get('custom_hooks'), Mapping):
            cfg = hooks_as_list(copy.deepcopy(cfg))
        super().__init__(
            *args,
            custom_hooks=custom_hooks_as_list(custom_hooks),
            cfg=cfg,
            **kwargs)

    @staticmethod
    def build_dataloader(dataloader: Any,
                         seed: Optional[int] = None,
                         diff_rank_seed: bool = False) -> Any:
        """mmengine's ``build_dataloader``, without the ``_scope_`` key in
        ``collate_fn``.

        A config inheriting a package config (``_base_ =
        ['mmvireid::...']``) gets ``_scope_='mmvireid'`` in every dict with a
        ``type``; mmengine passes the collate dict's other keys on to the
        collate function, which then fails (``unexpected keyword argument
        '_scope_'``). The hooks build their dataloaders through the runner,
        so theirs are covered too.
        """
        if isinstance(dataloader, Mapping) and isinstance(
                dataloader.get('collate_fn'), Mapping):
            collate = dict(dataloader['collate_fn'])
            if collate.pop('_scope_', None) is not None:
                dataloader = dict(dataloader, collate_fn=collate)
        return Runner.build_dataloader(
            dataloader, seed=seed, diff_rank_seed=diff_rank_seed)
