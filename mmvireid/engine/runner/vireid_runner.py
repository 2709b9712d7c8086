"""mmengine's ``Runner`` with ``custom_hooks`` keyed by name and checkpoint
files that are written atomically and checked before they are loaded."""
import copy
import os.path as osp
from typing import Any, Callable, Mapping, Optional, Union

from mmengine.dist import is_main_process, master_only
from mmengine.runner import Runner

from mmvireid.registry import RUNNERS
from mmvireid.utils.hook_configs import custom_hooks_as_list, hooks_as_list
from .checkpoint_files import (check_resumable, commit_checkpoint,
                               latest_intact_checkpoint,
                               remove_stale_temporaries, temporary_name,
                               verify_checkpoint_file)
from .config_checks import check_config


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
    ``Runner``.

    Checkpoints (:mod:`mmvireid.engine.runner.checkpoint_files`): a local
    checkpoint is written under a temporary name and renamed into place once
    complete (:meth:`save_checkpoint`); every local file is checked before
    it is loaded (empty, truncated, changed bytes: :meth:`load_checkpoint`);
    ``resume`` refuses a file that is not a training checkpoint; auto-resume
    takes the newest intact checkpoint of the work dir, passing over broken
    ones with a warning (:meth:`load_or_resume`). Everything else is
    mmengine's.

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
        check_config(cfg)  # values that can only be wrong, before any work
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

    @master_only
    def save_checkpoint(self, out_dir: str, filename: str, *args: Any,
                        **kwargs: Any) -> None:
        """mmengine's ``save_checkpoint``, written atomically.

        In a local ``out_dir`` the checkpoint is written as
        ``.<filename>.tmp-<pid>``, checked, fsynced and renamed to
        ``filename`` (:func:`~.checkpoint_files.commit_checkpoint`): a file
        named like a checkpoint is always complete. Other storage backends
        (whose uploads are whole objects) write it directly.

        Args:
            out_dir (str): The folder.
            filename (str): The checkpoint's name.
            *args: mmengine's other arguments.
            **kwargs: mmengine's other keyword arguments.
        """
        local = '://' not in str(out_dir) and not kwargs.get('backend_args') \
            and not kwargs.get('file_client_args') \
            and not (args and args[0])  # file_client_args, positionally
        if not local:
            super().save_checkpoint(out_dir, filename, *args, **kwargs)
            return
        final = osp.join(out_dir, filename)
        temporary = osp.join(
            osp.dirname(final), temporary_name(osp.basename(final)))
        super().save_checkpoint(
            osp.dirname(temporary), osp.basename(temporary), *args, **kwargs)
        commit_checkpoint(temporary, final)

    def load_checkpoint(self,
                        filename: str,
                        map_location: Union[str, Callable] = 'cpu',
                        strict: bool = False,
                        revise_keys: list = [(r'^module\.', '')]) -> dict:
        """mmengine's ``load_checkpoint`` of a file checked first.

        Raises:
            CheckpointError: The file is empty, truncated or corrupt
                (:func:`~.checkpoint_files.verify_checkpoint_file`), or,
                while resuming, not a training checkpoint
                (:func:`~.checkpoint_files.check_resumable`).
        """
        verify_checkpoint_file(filename)
        checkpoint = super().load_checkpoint(
            filename,
            map_location=map_location,
            strict=strict,
            revise_keys=revise_keys)
        resuming = getattr(self, '_resume_needs', None)
        if resuming is not None:
            check_resumable(checkpoint, filename, **resuming)
        return checkpoint

    def resume(self,
               filename: str,
               resume_optimizer: bool = True,
               resume_param_scheduler: bool = True,
               map_location: Union[str, Callable] = 'default') -> None:
        """mmengine's ``resume``, refusing a file that cannot resume exactly
        (weights only, another library's checkpoint) with its name and what
        it lacks."""
        self._resume_needs = dict(
            optimizer=resume_optimizer,
            param_schedulers=resume_param_scheduler
            and self.param_schedulers is not None)
        try:
            super().resume(
                filename,
                resume_optimizer=resume_optimizer,
                resume_param_scheduler=resume_param_scheduler,
                map_location=map_location)
        finally:
            self._resume_needs = None

    def load_or_resume(self) -> None:
        """mmengine's ``load_or_resume`` with a safe auto-resume.

        Auto-resume (``resume=True`` without ``load_from``) takes the newest
        intact checkpoint of the work dir
        (:func:`~.checkpoint_files.latest_intact_checkpoint`), says so when
        that is not the one ``last_checkpoint`` names, and starts from
        scratch (said in the log) only when the work dir has no checkpoint.
        Temporary files of interrupted saves are removed.
        """
        if self._has_loaded:
            return
        if self._resume and self._load_from is None:
            if is_main_process():
                for path in remove_stale_temporaries(self.work_dir):
                    self.logger.info(
                        f'removed {path}, left by an interrupted save')
            latest = latest_intact_checkpoint(self.work_dir, self.logger)
            if latest is None:
                self.logger.info(f'auto-resume: no checkpoint in '
                                 f'{self.work_dir}, training starts anew')
                return
            self.logger.info(f'auto-resume from {latest}')
            self._load_from = latest
        super().load_or_resume()
