"""Environment set-up: register every mmvireid module."""
import datetime
import warnings

from mmengine import DefaultScope


def register_all_modules(init_default_scope: bool = True) -> None:
    """Import every mmvireid module so that its classes are registered.

    Args:
        init_default_scope (bool): Also make ``'mmvireid'`` the current
            default scope, so configs may omit ``default_scope``. Defaults
            to True.
    """
    import mmvireid.datasets  # noqa: F401,F403
    import mmvireid.engine  # noqa: F401,F403
    import mmvireid.evaluation  # noqa: F401,F403
    import mmvireid.models  # noqa: F401,F403
    import mmvireid.structures  # noqa: F401,F403
    from . import checkpoint_compat  # noqa: F401

    if not init_default_scope:
        return
    never_created = DefaultScope.get_current_instance() is None \
        or not DefaultScope.check_instance_created('mmvireid')
    if never_created:
        DefaultScope.get_instance('mmvireid', scope_name='mmvireid')
        return
    current_scope = DefaultScope.get_current_instance()
    if current_scope.scope_name != 'mmvireid':
        warnings.warn('The current default scope '
                      f'"{current_scope.scope_name}" is not "mmvireid", '
                      '`register_all_modules` will force the current '
                      'default scope to be "mmvireid". If this is not '
                      'expected, please set `init_default_scope=False`.')
        # avoid name conflict
        new_instance_name = f'mmvireid-{datetime.datetime.now()}'
        DefaultScope.get_instance(new_instance_name, scope_name='mmvireid')
