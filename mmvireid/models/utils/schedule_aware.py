"""The interface of modules that follow the training schedule."""


class ScheduleAware:
    """A sub-module that reacts to stage switches or training progress.

    The stage hook (:class:`~mmvireid.engine.StageHook`) calls the model's
    ``switch_stage(name)`` at the first epoch of each stage and
    ``set_progress(epoch, max_epochs)`` before every epoch;
    :class:`~mmvireid.models.ReIDer` hands both calls to every sub-module
    that is a ``ScheduleAware``, in module order. Both default to doing
    nothing, so a module overrides only what it needs.

    What a module receives, and when:

    - :meth:`switch_stage` — once, at the start of the stage's first epoch
      (before that epoch's label pipeline), on every rank, under a random
      generator seeded by the run's seed and the stage's epoch (so a
      re-initialisation is the same in a resumed run). Not called again
      when a run resumes inside the stage: the checkpoint holds the state.
    - :meth:`set_progress` — at the start of every epoch, the 0-based
      epoch and the run's ``max_epochs`` (for progressive schedules, e.g.
      a weight ramped from 0 to 1).
    """

    def switch_stage(self, stage: str) -> bool:
        """Enter the training stage named ``stage``; True if the module
        changed (e.g. re-initialised its parameters), for the log."""
        return False

    def set_progress(self, epoch: int, max_epochs: int) -> None:
        """Training is at ``epoch`` (0-based) of ``max_epochs``."""
