"""Every rank ends a training epoch with rank 0's BatchNorm statistics."""
from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper
from mmengine.runner import Runner

from mmvireid.registry import HOOKS
from mmvireid.utils.dist_utils import broadcast_buffers


@HOOKS.register_module()
class BroadcastBuffersHook(Hook):
    """Broadcast rank 0's ordinary buffers at the end of each train epoch.

    DDP broadcasts rank 0's buffers (BatchNorm running statistics) before
    every training forward, but each rank's last forward of an epoch then
    updates its own copy. This hook broadcasts them once more, before the
    checkpoint is saved, the model validated and the next epoch's features
    extracted, so every rank extracts, evaluates and saves the same model
    (the one in the checkpoint). Rank-synchronised state (memories,
    pseudo-labels) is left alone (:mod:`mmvireid.utils.dist_utils`). Does
    nothing in a single-process run. ``configs/_base_/default_runtime.py``
    registers it as the default hook ``sync_buffers``.
    """

    priority = 'VERY_HIGH'

    def after_train_epoch(self, runner: Runner) -> None:
        """Broadcast the buffers from rank 0."""
        model = runner.model.module if is_model_wrapper(
            runner.model) else runner.model
        broadcast_buffers(model)
