"""configs/salcr: every config builds; sysu.py and regdb.py train one
iteration on tiny trees in the real layouts; the layout of the family (one
method base, dataset configs, ablation rows that name what they switch
off)."""
import glob
import os.path as osp
import re

import pytest
from mmengine.config import Config
from mmengine.registry import RUNNERS

from mmvireid.engine import VIReIDRunner
from mmvireid.registry import MODELS
from mmvireid.utils import hooks_as_list, register_all_modules

register_all_modules()

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
SALCR = osp.join(ROOT, 'configs', 'salcr')
CONFIGS = sorted(
    path for path in glob.glob(osp.join(SALCR, '*.py'))
    if not osp.basename(path).startswith('_base_'))
ROWS = [
    'synthvi_baseline.py', 'synthvi_dagl.py', 'synthvi_dagl_fgsal.py',
    'synthvi_dagl_fgsal_gpcr.py', 'synthvi_ceiling.py'
]


def test_the_config_family_is_complete():
    names = {osp.basename(c) for c in CONFIGS}
    assert {
        'sysu.py', 'regdb.py', 'synthvi.py', 'synthvi_baseline.py',
        'synthvi_dagl.py', 'synthvi_dagl_fgsal.py',
        'synthvi_dagl_fgsal_gpcr.py', 'synthvi_ceiling.py'
    } <= names


@pytest.mark.parametrize('path', CONFIGS, ids=osp.basename)
def test_config_parses_and_its_model_builds(path):
    cfg = hooks_as_list(Config.fromfile(path))
    model = MODELS.build(cfg.model)
    head = model.head
    hooks = [h['type'] for h in cfg.custom_hooks]
    assert 'ClusteringHook' in hooks and 'StageHook' in hooks
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
        cmfp = assoc[0]['refiners']['cmfp']  # CMFP(tr)
        assert cmfp['type'] == 'CMFPRefiner' and cmfp['k'] > 0
    elif assoc:
        assert assoc[0]['refiners']['cmfp'] is None


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
    clustering = cfg.custom_hooks.clustering
    assert clustering['type'] == 'ClusteringHook'
    clustering.clusterer.update(min_samples=2, k1=4, k2=2)
    clustering.update(show_progress=False)
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
    runner = RUNNERS.build(cfg)  # the configs' VIReIDRunner
    assert isinstance(runner, VIReIDRunner)
    runner.train()
    assert runner.iter == 1
    assert len(runner.model._labels) == 72  # every train image labelled
    log = open(runner.logger.log_file).read()
    assert 'epoch 1 clustering: visible:' in log
    assert osp.isfile(str(tmp_path / 'work' / 'epoch_1.pth'))
    # stage 1 trains with LTG on visible images, stage 2 without
    dataset = runner.train_dataloader.dataset
    assert 'LinearTransformationGenerator' in repr(dataset.pipeline)
    stages = next(h for h in runner.hooks if type(h).__name__ == 'StageHook')
    stages._switch_pipeline(runner, stages.stages[1]['pipeline'])
    assert 'LinearTransformationGenerator' not in repr(dataset.pipeline)
    assert 'ChannelExchange' in repr(dataset.pipeline)


def test_regdb_config_trains_one_iteration(regdb_root, tmp_path):
    cfg = tiny_run_config(
        osp.join(ROOT, 'configs', 'salcr', 'regdb.py'), regdb_root,
        str(tmp_path / 'work'), lambda dataset: dataset.update(trial=2))
    # the tiny tree has 4 images per modality: k1 must stay below that
    # (k1=4 made every modality one cluster, which is now refused)
    cfg.custom_hooks.clustering.clusterer.k1 = 3
    runner = RUNNERS.build(cfg)
    runner.train()
    assert runner.iter == 1
    assert runner.train_dataloader.dataset.trial == 2


def _code(path):
    """The lines of a config file that are not comments or blank."""
    with open(path) as f:
        return [
            line for line in f
            if line.strip() and not line.lstrip().startswith('#')
        ]


@pytest.mark.parametrize('name', ROWS)
def test_ablation_rows_state_only_what_they_switch_off(name):
    code = ''.join(_code(osp.join(SALCR, name)))
    assert "_base_ = ['./synthvi.py']" in code
    # no hook is restated (a component may be switched), no base value
    # copied in
    assert not re.search(r"type='\w+Hook'", code) and '{{_base_' not in code
    assert 'extract_dataloader' not in code and 'switch_epoch' not in code
    assert len(_code(osp.join(SALCR, name))) <= 12


def test_the_family_shares_one_method_base():
    """sysu.py / regdb.py / synthvi.py: the method base plus a dataset base
    (the one each evaluates with); the hooks are stated once, there."""
    dataset_bases = dict(sysu='sysu_all', regdb='regdb_v2t', synthvi='synthvi')
    for config, dataset in dataset_bases.items():
        name = f'{config}.py'
        code = ''.join(_code(osp.join(SALCR, name)))
        assert re.search(
            r"_base_ = \['\./_base_salcr\.py', "
            rf"'\.\./_base_/datasets/{dataset}\.py'\]", code), name
        assert "type='ClusteringHook'" not in code, name
        assert '{{_base_' not in code, name
    base = ''.join(_code(osp.join(SALCR, '_base_salcr.py')))
    for hook in ('StageHook', 'ClusteringHook', 'AssociationHook',
                 'EpochSeedHook'):
        assert base.count(f"type='{hook}'") == 1, hook


def test_every_base_file_is_used():
    """Every file under configs/_base_ is a base of a config, or an
    evaluation variant of such a base (sysu_indoor.py, regdb_t2v.py: the
    other protocols of a dataset, for tools/test.py)."""
    configs = glob.glob(
        osp.join(ROOT, 'configs', '**', '*.py'), recursive=True)
    bases_of = {
        osp.normpath(path): {
            osp.normpath(osp.join(osp.dirname(path), base))
            for base in Config._get_base_files(path)
        }
        for path in configs
    }
    base_dir = osp.join(ROOT, 'configs', '_base_')
    base_files = {path for path in bases_of if path.startswith(base_dir)}
    used = set().union(*(bases_of[path]
                         for path in set(bases_of) - base_files))
    variants = {
        path
        for path in base_files if bases_of[path] and bases_of[path] <= used
    }
    assert base_files - variants <= used, base_files - variants - used


def test_hooks_of_the_rows():
    """What each row switches off, read from the resolved hooks."""

    def hooks(name):
        cfg = hooks_as_list(Config.fromfile(osp.join(SALCR, name)))
        return {hook['type']: hook for hook in cfg.custom_hooks}

    full = hooks('synthvi.py')
    assert list(full) == [
        'ImageCheckHook', 'StageHook', 'ClusteringHook', 'AssociationHook',
        'EpochSeedHook'
    ]
    assert full['AssociationHook']['refiners'] == dict(
        cmfp=dict(type='CMFPRefiner', k=10))
    assert full['ClusteringHook']['clusterer'] == dict(
        type='JaccardDBSCAN',
        eps=0.5,
        min_samples=4,
        k1=20,
        k2=6,
        centre_features=True)
    cross = full['StageHook']['stages']['cross']
    assert cross['pipeline'] is None  # no LTG
    assert cross['epoch'] == 2 and cross['sampler_mode'] == 'paired'
    baseline = hooks('synthvi_baseline.py')
    assert 'AssociationHook' not in baseline
    assert baseline['StageHook']['stages']['cross']['sampler_mode'] is None
    ceiling = hooks('synthvi_ceiling.py')
    assert ceiling['ClusteringHook']['clusterer'] == dict(
        type='GroundTruthClusterer')
    assert ceiling['AssociationHook']['associator'] == dict(
        type='GroundTruthAssociator')
    for name in ROWS[1:]:
        row = hooks(name)
        assert row['AssociationHook']['stages'] == ('cross', ), name
        assert row['AssociationHook']['refiners'] == dict(cmfp=None), name
        assert row['ClusteringHook']['extract_dataloader'] == \
            full['ClusteringHook']['extract_dataloader'], name
        if name != 'synthvi_ceiling.py':
            for hook in ('ClusteringHook', 'AssociationHook'):
                for key in ('clusterer', 'associator'):
                    same = row[hook].get(key) == full[hook].get(key)
                    assert same, (name, hook, key)
