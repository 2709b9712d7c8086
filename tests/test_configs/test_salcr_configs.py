"""configs/salcr: every config builds; sysu.py and regdb.py train one
iteration on tiny trees in the real layouts."""
import glob
import os.path as osp

import pytest
from mmengine.config import Config
from mmengine.runner import Runner

from mmvireid.registry import MODELS
from mmvireid.utils import register_all_modules

register_all_modules()

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
CONFIGS = sorted(glob.glob(osp.join(ROOT, 'configs', 'salcr', '*.py')))


def test_the_config_family_is_complete():
    names = {osp.basename(c) for c in CONFIGS}
    assert {
        'sysu.py', 'regdb.py', 'synthvi.py', 'synthvi_baseline.py',
        'synthvi_dagl.py', 'synthvi_dagl_fgsal.py',
        'synthvi_dagl_fgsal_gpcr.py', 'synthvi_ceiling.py'
    } <= names


@pytest.mark.parametrize('path', CONFIGS, ids=osp.basename)
def test_config_parses_and_its_model_builds(path):
    cfg = Config.fromfile(path)
    model = MODELS.build(cfg.model)
    head = model.head
    hooks = [h['type'] for h in cfg.custom_hooks]
    assert 'ClusteringHook' in hooks and 'StageSwitchHook' in hooks
    name = osp.basename(path)
    if name == 'synthvi_baseline.py':
        assert 'AssociationHook' not in hooks
        assert head.part_head is None and head.instance_head is None
        assert not head.global_head.cross_modal
    else:
        assert 'AssociationHook' in hooks
        assert head.global_head.cross_modal
    full = name in ('sysu.py', 'regdb.py', 'synthvi.py', 'synthvi_ceiling.py')
    if full or name == 'synthvi_dagl_fgsal_gpcr.py':
        assert head.part_head is not None and head.instance_head is not None
    assoc = [h for h in cfg.custom_hooks if h['type'] == 'AssociationHook']
    if full and name != 'synthvi_ceiling.py':
        assert assoc[0]['cmfp_k'] > 0  # CMFP(tr)
    elif assoc:
        assert assoc[0].get('cmfp_k') is None


def tiny_run_config(path, data_root, work_dir, dataset_fix):
    """One iteration of a published config on a tiny tree, small images,
    no pretrained download."""
    cfg = Config.fromfile(path)
    cfg.work_dir = work_dir
    cfg.model.backbone.backbone.init_cfg = None
    cfg.train_dataloader.num_workers = 0
    cfg.train_dataloader.persistent_workers = False
    cfg.train_dataloader.batch_size = 8
    cfg.train_dataloader.sampler.update(
        num_clusters=2, num_instances=2, iters_per_epoch=1)
    cfg.train_dataloader.dataset.data_root = data_root
    dataset_fix(cfg.train_dataloader.dataset)
    clustering = cfg.custom_hooks[1]
    assert clustering['type'] == 'ClusteringHook'
    clustering.update(min_samples=2, k1=4, k2=2, show_progress=False)
    extract = clustering['extract_dataloader']
    extract.update(num_workers=0, batch_size=32)
    extract['dataset']['data_root'] = data_root
    dataset_fix(extract['dataset'])
    cfg.train_cfg = dict(by_epoch=True, max_epochs=1, val_interval=10)
    cfg.val_dataloader = cfg.val_evaluator = cfg.val_cfg = None
    cfg.test_dataloader = cfg.test_evaluator = cfg.test_cfg = None
    cfg.default_hooks.checkpoint = dict(type='CheckpointHook', interval=1)
    cfg.default_hooks.logger = dict(type='LoggerHook', interval=1)
    cfg.model_wrapper_cfg = None
    return cfg


def _sysu_fix(dataset):
    dataset['check_counts'] = False


def test_sysu_config_trains_one_iteration(sysu_root, tmp_path):
    cfg = tiny_run_config(
        osp.join(ROOT, 'configs', 'salcr', 'sysu.py'), sysu_root,
        str(tmp_path / 'work'), _sysu_fix)
    runner = Runner.from_cfg(cfg)
    runner.train()
    assert runner.iter == 1
    assert len(runner.model.head.labels) == 72  # every train image labelled
    log = open(runner.logger.log_file).read()
    assert 'epoch 1 clustering: visible:' in log
    assert osp.isfile(str(tmp_path / 'work' / 'epoch_1.pth'))
    # stage 1 trains with LTG on visible images, stage 2 without
    dataset = runner.train_dataloader.dataset
    assert 'LinearTransformationGenerator' in repr(dataset.pipeline)
    switch = next(
        h for h in runner.hooks if type(h).__name__ == 'StageSwitchHook')
    switch._switch_pipeline(runner)
    assert 'LinearTransformationGenerator' not in repr(dataset.pipeline)
    assert 'ChannelExchange' in repr(dataset.pipeline)


def test_regdb_config_trains_one_iteration(regdb_root, tmp_path):
    cfg = tiny_run_config(
        osp.join(ROOT, 'configs', 'salcr', 'regdb.py'), regdb_root,
        str(tmp_path / 'work'), lambda dataset: dataset.update(trial=2))
    runner = Runner.from_cfg(cfg)
    runner.train()
    assert runner.iter == 1
    assert runner.train_dataloader.dataset.trial == 2
