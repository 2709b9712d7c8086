"""``custom_hooks`` keyed by name, so that derived configs override hooks.

mmengine merges the dicts of a config into those of its bases but replaces
lists, so a config that changes one argument of one custom hook in the
usual list form has to restate the whole list. mmvireid's configs give
``custom_hooks`` as a dict keyed by a name instead::

    # base
    custom_hooks = dict(
        stage=dict(type='StageHook', stages=dict(
            intra=dict(epoch=0), cross=dict(epoch=2))),
        clustering=dict(type='ClusteringHook', extract_dataloader=...),
        association=dict(type='AssociationHook', stages=('cross', ),
                         refiners=dict(cmfp=dict(type='CMFPRefiner', k=10))),
        epoch_seed=dict(type='EpochSeedHook'))
    # derived: one argument changed, one hook removed
    custom_hooks = dict(
        clustering=dict(clusterer=dict(eps=0.5)), association=None)

and the same applies to ``--cfg-options``
(``custom_hooks.clustering.clusterer.eps=0.5``). Arguments for a hook that
a base removed make mmengine's merge raise (a ``TypeError`` naming the key; a full
hook config with ``_delete_=True`` adds the hook again).

Before mmengine's ``Runner`` sees the config, :func:`hooks_as_list` turns
the dict into mmengine's list, in the dict's order (hooks run by their
``priority`` anyway): ``tools/train.py`` and ``tools/test.py`` call it in
:func:`~mmvireid.utils.launch.load_config`, and
:class:`~mmvireid.engine.VIReIDRunner` (the ``runner_type`` of
``configs/_base_/default_runtime.py``, which mmengine's
``RUNNERS.build(cfg)`` builds) calls it for code that builds runners
itself.
"""
from typing import Any, List, Mapping, Optional, Sequence, TypeVar, Union

from mmengine.hooks import Hook

HookCfg = Union[dict, Hook]
CfgT = TypeVar('CfgT')


def custom_hooks_as_list(
    custom_hooks: Union[None, Sequence[HookCfg], Mapping[str, Any]]
) -> Optional[List[HookCfg]]:
    """mmengine's ``custom_hooks`` list from the by-name dict form.

    Args:
        custom_hooks (dict | list | None): Hooks keyed by name (a value of
            ``None`` removes that hook; a value is a hook config with a
            ``type``, or a :class:`~mmengine.hooks.Hook`), or already a list
            (returned as a list, unchanged), or None.

    Returns:
        list | None: The hooks in the dict's order, without the removed
        ones; None if ``custom_hooks`` is None.

    Raises:
        ValueError: An entry is neither a hook config, a hook nor None, or
            it has no ``type`` (e.g. a config sets arguments of a hook that a
            base removed); the message names the entry's key.
    """
    if custom_hooks is None:
        return None
    if isinstance(custom_hooks, (list, tuple)):
        return list(custom_hooks)
    if not isinstance(custom_hooks, Mapping):
        raise ValueError('custom_hooks must be a dict keyed by hook name, a '
                         f'list or None, got {type(custom_hooks).__name__}')
    hooks: List[HookCfg] = []
    for key, hook in custom_hooks.items():
        if hook is None:  # removed by a derived config
            continue
        if isinstance(hook, Hook):
            hooks.append(hook)
            continue
        if not isinstance(hook, Mapping):
            raise ValueError(
                f'custom_hooks[{key!r}] must be a hook config (a dict with a '
                f"'type'), a Hook or None (None removes the hook), got "
                f'{type(hook).__name__}: {hook!r}')
        if hook.get('type') is None:
            names = [
                k for k, v in custom_hooks.items()
                if v is not None and k != key
            ]
            if str(key).isdigit():
                why = ('custom_hooks is keyed by hook name, not by position '
                       '(e.g. custom_hooks.clustering.clusterer.eps=0.5)')
            else:
                why = ('no base config defines a hook of this name '
                       f'(misspelt, or removed with {key}=None and given '
                       "again with _delete_=True): give its 'type' to add "
                       'it, or drop these arguments')
            raise ValueError(
                f"custom_hooks[{key!r}] has no 'type' after the configs were "
                f'merged: {dict(hook)!r}; {why}. Hooks of this config: '
                f'{names}')
        hooks.append(hook)
    return hooks


def hooks_as_list(cfg: CfgT) -> CfgT:
    """Turn a config's by-name ``custom_hooks`` into mmengine's list.

    Args:
        cfg (Config | dict): A full config; modified in place. A list, None
            or missing ``custom_hooks`` is left as it is.

    Returns:
        Config | dict: ``cfg``.

    Raises:
        ValueError: See :func:`custom_hooks_as_list`.
    """
    hooks = cfg.get('custom_hooks')  # type: ignore[attr-defined]
    if isinstance(hooks, Mapping):
        cfg['custom_hooks'] = custom_hooks_as_list(  # type: ignore[index]
            hooks)
    return cfg
