"""``custom_hooks`` keyed by name: the dict -> list normalisation, through
configs, ``--cfg-options``, ``load_config`` and ``VIReIDRunner``."""
import os.path as osp

import pytest
import torch
from mmengine.config import Config
from mmengine.hooks import Hook
from mmengine.model import BaseModel
from mmengine.registry import RUNNERS

from mmvireid.engine import VIReIDRunner
from mmvireid.utils import (custom_hooks_as_list, hooks_as_list,
                            register_all_modules)
from mmvireid.utils.launch import load_config

register_all_modules()

BASE = """
default_scope = 'mmvireid'
runner_type = 'mmvireid.VIReIDRunner'
custom_hooks = dict(
    stage_switch=dict(type='StageHook', stages=dict(
        intra=dict(epoch=0), cross=dict(epoch=2))),
    clustering=dict(type='ClusteringHook', extract_dataloader=dict(),
                    clusterer=dict(type='JaccardDBSCAN', eps=0.5, k1=20)),
    association=dict(type='AssociationHook', stages=('cross', ),
                     refiners=dict(cmfp=dict(type='CMFPRefiner', k=10))),
    epoch_seed=dict(type='EpochSeedHook'))
"""


def write(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def test_none_removes_and_order_is_kept():
    hooks = custom_hooks_as_list(
        dict(
            b=dict(type='B'), a=None, c=dict(type='C', x=1), d=dict(type='D')))
    assert hooks == [dict(type='B'), dict(type='C', x=1), dict(type='D')]
    assert custom_hooks_as_list(None) is None
    assert custom_hooks_as_list(dict()) == []
    listed = [dict(type='A')]
    assert custom_hooks_as_list(listed) == listed  # mmengine's form
    assert custom_hooks_as_list((dict(type='A'), )) == listed
    hook = Hook()
    assert custom_hooks_as_list(dict(mine=hook)) == [hook]


def test_bad_entries_raise_naming_the_key():
    with pytest.raises(
            ValueError, match=r"custom_hooks\['clustering'\] "
            r"has no 'type'"):
        custom_hooks_as_list(dict(clustering=dict(interval=2)))
    with pytest.raises(ValueError, match=r"custom_hooks\['seed'\] must be"):
        custom_hooks_as_list(dict(seed='EpochSeedHook'))
    with pytest.raises(
            ValueError, match='keyed by hook name, not by '
            'position'):
        custom_hooks_as_list(dict(clustering=dict(type='X'), **{'0': {}}))
    with pytest.raises(ValueError, match='dict keyed by hook name'):
        custom_hooks_as_list('EpochSeedHook')


def test_derived_configs_merge_by_name(tmp_path):
    write(tmp_path, 'base.py', BASE)
    row = write(
        tmp_path, 'row.py', "_base_ = ['./base.py']\n"
        'custom_hooks = dict(association=None, '
        'clustering=dict(clusterer=dict(eps=0.6)), '
        'extra=dict(type="MyHook"))\n')
    cfg = hooks_as_list(Config.fromfile(row))
    assert [h['type'] for h in cfg.custom_hooks
            ] == ['StageHook', 'ClusteringHook', 'EpochSeedHook', 'MyHook']
    clustering = cfg.custom_hooks[1]
    assert clustering.clusterer == dict(type='JaccardDBSCAN', eps=0.6, k1=20)
    # arguments of a hook the base removed: mmengine's merge names the key
    orphan = write(
        tmp_path, 'orphan.py', "_base_ = ['./row.py']\n"
        'custom_hooks = dict(association=dict(stages=None))\n')
    with pytest.raises(TypeError, match=r"association=\{'stages': None\}"):
        Config.fromfile(orphan)
    # ... given again without its type, or a misspelt name: ours does
    for text in ('association=dict(_delete_=True, start_epoch=5)',
                 'clusterin=dict(interval=2)'):
        orphan = write(
            tmp_path, 'orphan.py', "_base_ = ['./row.py']\n"
            f'custom_hooks = dict({text})\n')
        key = text.split('=')[0]
        with pytest.raises(
                ValueError, match=rf"custom_hooks\['{key}'\] has no 'type'"):
            hooks_as_list(Config.fromfile(orphan))
    # ... and a full config adds it again
    again = write(
        tmp_path, 'again.py', "_base_ = ['./row.py']\n"
        "custom_hooks = dict(association=dict(_delete_=True, "
        "type='AssociationHook', start_epoch=5))\n")
    hooks = hooks_as_list(Config.fromfile(again)).custom_hooks
    assert hooks[2] == dict(type='AssociationHook', start_epoch=5)
    # lists and configs without custom_hooks are left alone
    assert hooks_as_list(dict(custom_hooks=[1])) == dict(custom_hooks=[1])
    assert hooks_as_list(dict()) == dict()


def test_load_config_applies_cfg_options_first(tmp_path):
    path = write(tmp_path, 'base.py', BASE)
    cfg = load_config(
        path,
        cfg_options={
            'custom_hooks.clustering.clusterer.eps': 0.3,
            'custom_hooks.association': None
        })
    assert isinstance(cfg.custom_hooks, list)
    assert [h['type'] for h in cfg.custom_hooks
            ] == ['StageHook', 'ClusteringHook', 'EpochSeedHook']
    assert cfg.custom_hooks[1].clusterer.eps == 0.3
    # the list index of mmengine's form names a hook that does not exist
    with pytest.raises(ValueError, match='not by position'):
        load_config(path, cfg_options={'custom_hooks.1.interval': 2})


class ToyModel(BaseModel):

    def __init__(self) -> None:
        super().__init__()
        self.linear = torch.nn.Linear(2, 2)

    def forward(self, inputs=None, data_samples=None, mode='tensor'):
        return self.linear(inputs)


class RecordHook(Hook):
    priority = 'LOWEST'


def test_runner_registers_hooks_given_by_name(tmp_path):
    record = RecordHook()
    runner = VIReIDRunner(
        model=ToyModel(),
        work_dir=str(tmp_path / 'work'),
        custom_hooks=dict(
            seed=dict(type='EpochSeedHook', offset=3),
            gone=None,
            record=record),
        default_scope='mmvireid',
        cfg=dict(
            custom_hooks=dict(
                seed=dict(type='EpochSeedHook', offset=3), gone=None)))
    assert runner.hooks[-1] is record
    seed = [h for h in runner.hooks if type(h).__name__ == 'EpochSeedHook']
    assert len(seed) == 1 and seed[0].offset == 3
    # the config the runner keeps (and dumps) has mmengine's list
    assert runner.cfg.custom_hooks == [dict(type='EpochSeedHook', offset=3)]


def test_runners_build_from_the_config_s_runner_type(tmp_path):
    """mmengine's RUNNERS.build(cfg) of a config with runner_type, the way
    tools/train.py builds it; hooks run by priority, not by dict order; the
    dumped config loads with mmengine alone."""
    path = write(
        tmp_path, 'cfg.py',
        "_base_ = ['mmvireid::_base_/default_runtime.py']\n"
        "model = dict(type='ReIDer', backbone=dict(type='mmpretrain.ResNet', "
        'depth=18, stem_channels=8, base_channels=8, out_indices=(3, )))\n'
        'model_wrapper_cfg = None\n'
        'custom_hooks = dict(\n'
        "    seed=dict(type='EpochSeedHook'),\n"
        "    switch=dict(type='StageHook', stages=dict(a=dict(epoch=0))))\n"
        f"work_dir = {str(tmp_path / 'work')!r}\n")
    runner = RUNNERS.build(Config.fromfile(path))
    assert type(runner) is VIReIDRunner
    names = [type(hook).__name__ for hook in runner.hooks]
    assert names.index('StageHook') < names.index('EpochSeedHook')
    dumped = Config.fromfile(osp.join(runner.work_dir, 'cfg.py'))
    # default_runtime's check_images comes first (dict order of the bases)
    assert [h['type'] for h in dumped.custom_hooks
            ] == ['ImageCheckHook', 'EpochSeedHook', 'StageHook']
