"""When a label-pipeline hook or component runs, and building components.

Both label-pipeline hooks (:class:`ClusteringHook`, :class:`AssociationHook`)
and every component they run (clusterer, refiners, associator) follow a
:class:`ComponentSchedule`. A component's config may carry one under the key
``schedule``, which the hook pops before building the component::

    refiners=dict(cmfp=dict(type='CMFPRefiner', k=30,
                            schedule=dict(start_epoch=4)))
"""
from typing import Any, Mapping, Optional, Sequence, Tuple, Type, Union

from mmengine.logging import MessageHub
from mmengine.runner import Runner

from mmvireid.registry import TASK_UTILS

#: the keys of a ``schedule=dict(...)``
SCHEDULE_KEYS = ('start_epoch', 'stages', 'interval')


class ComponentSchedule:
    """The epochs at which a label-pipeline hook or component runs.

    From ``start_epoch`` on, or during the training stages named in
    ``stages`` (the stage names of the run's
    :class:`~mmvireid.engine.hooks.StageHook`, which publishes the current
    one in the message hub info ``'stage'`` and every stage's first epoch
    in ``'stages'``), not both; in either case every ``interval``-th epoch,
    counted from ``start_epoch`` or from the first epoch of each stage.

    Args:
        start_epoch (int, optional): First epoch (0-based) that runs when
            ``stages`` is not given. Defaults to 0.
        stages (str | Sequence[str], optional): Run during these stages.
            Checked against the stage hook's stages by :meth:`check`.
        interval (int): Run every ``interval`` epochs. Defaults to 1.
        owner (str): Who follows the schedule, for error messages (e.g.
            ``'AssociationHook refiners.cmfp'``).

    Raises:
        ValueError: Both ``start_epoch`` and ``stages``, a negative
            ``start_epoch``, an ``interval`` < 1 or no stage name.
    """

    def __init__(self,
                 start_epoch: Optional[int] = None,
                 stages: Union[None, str, Sequence[str]] = None,
                 interval: int = 1,
                 owner: str = 'schedule') -> None:
        self.owner = owner
        if stages is not None and start_epoch is not None:
            raise ValueError(f'{owner}: give start_epoch or stages, not both '
                             f'(got {start_epoch} and {stages})')
        if isinstance(stages, str):
            stages = (stages, )
        if stages is not None and (not stages or
                                   not all(isinstance(s, str)
                                           for s in stages)):
            raise ValueError(f'{owner}: stages must be stage names, got '
                             f'{stages!r}')
        start_epoch = 0 if start_epoch is None else start_epoch
        if not isinstance(start_epoch, int) or start_epoch < 0:
            raise ValueError(f'{owner}: start_epoch must be an int >= 0, got '
                             f'{start_epoch!r}')
        if not isinstance(interval, int) or interval < 1:
            raise ValueError(f'{owner}: interval must be an int >= 1, got '
                             f'{interval!r}')
        self.start_epoch = start_epoch
        self.stages = None if stages is None else tuple(stages)
        self.interval = interval

    @classmethod
    def from_cfg(cls, cfg: Optional[Mapping],
                 owner: str) -> 'ComponentSchedule':
        """Build from a component's ``schedule=dict(...)`` (None: always).

        Raises:
            ValueError: A key other than :data:`SCHEDULE_KEYS`.
        """
        if cfg is None:
            return cls(owner=owner)
        if not isinstance(cfg, Mapping):
            raise TypeError(f'{owner}: schedule must be a dict of '
                            f'{SCHEDULE_KEYS}, got {cfg!r}')
        unknown = sorted(set(cfg) - set(SCHEDULE_KEYS))
        if unknown:
            raise ValueError(f'{owner}: unknown schedule key(s) {unknown}; a '
                             f'schedule may set {SCHEDULE_KEYS}')
        return cls(**cfg, owner=owner)

    def check(self, message_hub: MessageHub) -> None:
        """Check the stages against those the stage hook published (call in
        ``before_train``, after the stage hook's)."""
        if self.stages is None:
            return
        known = message_hub.get_info('stages')
        if known is None:
            raise ValueError(
                f'{self.owner}(stages={self.stages}) needs a StageHook in '
                'custom_hooks (it publishes the stages)')
        unknown = [s for s in self.stages if s not in known]
        if unknown:
            raise ValueError(
                f'{self.owner}: stages {unknown} are not stages of the '
                f'StageHook, which has {tuple(known)}')

    def active_at(self,
                  epoch: int,
                  stage: Optional[str] = None,
                  first_epochs: Optional[Mapping[str, int]] = None) -> bool:
        """Whether the schedule runs at ``epoch`` (0-based) of ``stage``
        (whose first epoch ``first_epochs`` gives)."""
        if self.stages is None:
            start = self.start_epoch
        elif stage not in self.stages:
            return False
        else:
            start = (first_epochs or {}).get(stage, 0)
        return epoch >= start and (epoch - start) % self.interval == 0

    def active(self, runner: Runner) -> bool:
        """Whether the schedule runs at the runner's current epoch."""
        hub = runner.message_hub
        return self.active_at(runner.epoch, hub.get_info('stage'),
                              hub.get_info('stages'))

    def __repr__(self) -> str:
        when = (f'stages {self.stages}' if self.stages is not None else
                f'from epoch {self.start_epoch}')
        every = '' if self.interval == 1 else f', every {self.interval}'
        return f'{type(self).__name__}({when}{every})'


class ScheduledComponent:
    """A label-pipeline component with its schedule and its name.

    Args:
        name (str): Its name in logs and errors (e.g. ``'cmfp'``).
        component: The built component.
        schedule (ComponentSchedule): When it runs.
    """

    def __init__(self, name: str, component: Any,
                 schedule: ComponentSchedule) -> None:
        self.name = name
        self.component = component
        self.schedule = schedule

    @classmethod
    def build(cls,
              cfg: Any,
              base: Type,
              owner: str,
              name: Optional[str] = None) -> 'ScheduledComponent':
        """Pop ``cfg``'s ``schedule``, build the rest with ``TASK_UTILS``.

        Args:
            cfg (dict | object): The component's config (``type`` and its
                arguments, optionally ``schedule``) or a built ``base``.
            base (type): The class the component must be an instance of.
            owner (str): Prefix of error messages (e.g.
                ``'AssociationHook refiners.cmfp'``).
            name (str, optional): Its name in logs. Defaults to the
                component's class name.

        Raises:
            TypeError | ValueError | KeyError: A bad argument, an unknown
                ``type``, or a component that is not a ``base``; the
                message starts with ``owner``.
        """
        if isinstance(cfg, base):
            return cls(
                name or type(cfg).__name__, cfg,
                ComponentSchedule(owner=owner))
        if not isinstance(cfg, Mapping):
            raise TypeError(f'{owner}: expected a config dict with a type or '
                            f'a {base.__name__}, got {cfg!r}')
        cfg = dict(cfg)
        schedule = ComponentSchedule.from_cfg(cfg.pop('schedule', None), owner)
        try:
            component = TASK_UTILS.build(cfg)
        except (TypeError, ValueError, KeyError) as err:
            if type(err) not in (TypeError, ValueError, KeyError):
                raise
            message = err.args[0] if err.args else ''
            raise type(err)(f'{owner}: {message}') from err
        if not isinstance(component, base):
            raise TypeError(f'{owner}: {cfg["type"]!r} builds a '
                            f'{type(component).__name__}, not a '
                            f'{base.__name__}')
        return cls(name or type(component).__name__, component, schedule)

    def check(self, modalities: Tuple[str, ...],
              message_hub: MessageHub) -> None:
        """The component's ``check(modalities)`` and the schedule's (a
        ``ValueError`` names the owner)."""
        self.schedule.check(message_hub)
        check = getattr(self.component, 'check', None)
        if check is None:
            return
        try:
            check(tuple(modalities))
        except ValueError as err:
            if type(err) is not ValueError:
                raise
            raise ValueError(f'{self.schedule.owner}: {err}') from err

    def active(self, runner: Runner) -> bool:
        """Whether it runs at the runner's current epoch."""
        return self.schedule.active(runner)
