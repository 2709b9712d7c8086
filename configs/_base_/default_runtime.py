default_scope = 'mmvireid'
# mmengine's Runner that also takes custom_hooks as a dict keyed by hook name
# (dicts merge across configs, lists do not: a derived config changes or
# removes one hook with e.g. custom_hooks = dict(association=None));
# mmengine's RUNNERS.build(cfg) builds it, as tools/train.py does
runner_type = 'mmvireid.VIReIDRunner'

default_hooks = dict(
    timer=dict(type='IterTimerHook'),
    logger=dict(type='LoggerHook', interval=50),
    param_scheduler=dict(type='ParamSchedulerHook'),
    # mmengine's CheckpointHook, but an old checkpoint is removed only once
    # the new one is complete (mmvireid/engine/hooks/atomic_checkpoint_hook.py)
    checkpoint=dict(
        type='AtomicCheckpointHook', interval=10, max_keep_ckpts=3),
    sampler_seed=dict(type='DistSamplerSeedHook'),
    # every rank ends an epoch with rank 0's BatchNorm statistics
    sync_buffers=dict(type='BroadcastBuffersHook'),
)

# DDP without the memories and pseudo-labels (every rank keeps them equal
# itself) and with rank 0's BatchNorm statistics broadcast before every
# forward: mmvireid/utils/dist_utils.py states the policy.
model_wrapper_cfg = dict(type='mmvireid.VIReIDDistributedDataParallel')

# ``tools/train.py`` / ``tools/test.py`` switch 'nccl' to 'gloo' on machines
# without CUDA, so the same config runs distributed on CPUs.
env_cfg = dict(
    cudnn_benchmark=False,
    mp_cfg=dict(mp_start_method='fork', opencv_num_threads=0),
    dist_cfg=dict(backend='nccl'),
)

vis_backends = [dict(type='LocalVisBackend')]
visualizer = dict(type='Visualizer', vis_backends=vis_backends)

log_processor = dict(by_epoch=True)
log_level = 'INFO'
load_from = None
resume = False
randomness = dict(seed=None, deterministic=False)

# before training, decode every val / test image (ImageCheckHook), so a
# corrupt evaluation image fails the run at its start, not after training;
# custom_hooks = dict(check_images=None) turns it off
custom_hooks = dict(check_images=dict(type='ImageCheckHook'))
