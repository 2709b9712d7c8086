"""ImageCheckHook: a bad evaluation image fails the run before training."""
import os.path as osp
from types import SimpleNamespace

import pytest
import torch
from mmengine.config import Config
from mmengine.hooks import Hook
from mmengine.model import BaseModel

from mmvireid.datasets import SYSUMM01
from mmvireid.engine import VIReIDRunner
from mmvireid.engine.hooks import ImageCheckHook
from mmvireid.registry import HOOKS
from mmvireid.utils import register_all_modules

register_all_modules()
ROOT = osp.dirname(
    osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))


def sysu_cfg(root, **kwargs):
    return dict(
        type='SYSUMM01',
        data_root=root,
        split='test',
        trials=[0],
        check_counts=False,
        pipeline=[dict(type='LoadVIReIDImage')],
        **kwargs)


def fake_runner(val=None, test=None):
    """What the hook reads of mmengine's Runner after Runner.train built
    the val loop; the test loop is not built (a config)."""
    loop = SimpleNamespace(dataloader=SimpleNamespace(dataset=val))
    return SimpleNamespace(
        _val_loop=loop if val is not None else None,
        val_loop=loop,
        _val_dataloader=dict(dataset=val and val.cfg),
        _test_loop=dict(),
        _test_dataloader=test and dict(dataset=test))


def built(cfg):
    dataset = SYSUMM01(**{k: v for k, v in cfg.items() if k != 'type'})
    dataset.cfg = cfg
    return dataset


def test_every_bad_image_of_the_test_split_is_named(sysu_root):
    cfg = sysu_cfg(sysu_root)
    dataset = built(cfg)
    query = osp.join(sysu_root, 'cam3', '0005', '0002.jpg')
    gallery = dataset.get_data_info(
        dataset.metainfo['gallery_trials'][0][-1])['img_path']
    open(query, 'wb').close()
    with open(gallery, 'wb') as f:
        f.write(b'junk')
    hook = HOOKS.build(dict(type='ImageCheckHook', show_progress=False))
    with pytest.raises(RuntimeError) as info:
        hook.before_train(fake_runner(dataset, cfg))
    message = str(info.value)
    # val and test are one dataset here: checked once, named both
    assert 'of the val/test split (SYSUMM01 at ' in message
    assert message.count('\n') == 2
    assert f'{query}: empty (0 bytes)' in message
    assert f'{gallery}: cannot decode' in message


def test_a_test_set_other_than_val_is_built_and_checked(
        sysu_root, tmp_path, monkeypatch):
    from data_trees import make_sysu_tree
    other = make_sysu_tree(str(tmp_path / 'other'))
    bad = osp.join(other, 'cam6', '0007', '0003.jpg')
    open(bad, 'wb').close()
    logged = []
    monkeypatch.setattr('mmvireid.engine.hooks.image_check_hook.print_log',
                        lambda msg, **kw: logged.append(msg))
    hook = ImageCheckHook(num_workers=2, show_progress=False)
    runner = fake_runner(built(sysu_cfg(sysu_root)), sysu_cfg(other))
    with pytest.raises(
            RuntimeError,
            match=r'1 of \d+ images of the test '
            rf"split .*\n{bad}: empty"):
        hook.before_train(runner)
    assert len(logged) == 1 and 'images of the val split' in logged[0]
    assert 'all load' in logged[0] and ' s: ' in logged[0]
    # only the val split: the test set is not even built
    ImageCheckHook(splits='val', show_progress=False).before_train(runner)
    # no val / test set at all: nothing to check, said so
    ImageCheckHook(show_progress=False).before_train(fake_runner())
    assert 'nothing to check' in logged[-1]


def test_bad_arguments_are_refused():
    with pytest.raises(ValueError, match="'train'"):
        ImageCheckHook(splits=('val', 'train'))
    with pytest.raises(ValueError, match='-1'):
        ImageCheckHook(num_workers=-1)


class ToyModel(BaseModel):

    def __init__(self) -> None:
        super().__init__()
        self.linear = torch.nn.Linear(2, 2)

    def forward(self, inputs=None, data_samples=None, mode='tensor'):
        return self.linear(inputs)


class RecordHook(Hook):
    """Where the label-pipeline hooks run (ClusteringHook's priority)."""
    priority = 'ABOVE_NORMAL'

    def __init__(self) -> None:
        self.called = False

    def before_train(self, runner) -> None:
        self.called = True


def test_the_runtime_hook_stops_a_run_before_its_first_iteration(
        sysu_root, tmp_path):
    runtime = Config.fromfile(
        osp.join(ROOT, 'configs', '_base_', 'default_runtime.py'))
    check = runtime.custom_hooks.check_images
    assert check == dict(type='ImageCheckHook')
    bad = osp.join(sysu_root, 'cam3', '0006', '0001.jpg')  # a query
    with open(bad, 'wb') as f:
        f.write(b'\xff\xd8 truncated')
    loader = dict(
        batch_size=2,
        num_workers=0,
        sampler=dict(type='DefaultSampler', shuffle=False),
        collate_fn=dict(type='pseudo_collate'))
    record = RecordHook()
    runner = VIReIDRunner(
        model=ToyModel(),
        work_dir=str(tmp_path / 'work'),
        train_dataloader=dict(
            loader, dataset=dict(sysu_cfg(sysu_root), split='train')),
        train_cfg=dict(by_epoch=True, max_epochs=1),
        optim_wrapper=dict(optimizer=dict(type='SGD', lr=0.1)),
        val_dataloader=dict(loader, dataset=sysu_cfg(sysu_root)),
        val_cfg=dict(),
        val_evaluator=dict(type='VIReIDMetric'),
        custom_hooks=dict(check_images=check, record=record),
        default_scope='mmvireid')
    with pytest.raises(RuntimeError, match=f'val split.*\n{bad}: cannot'):
        runner.train()
    assert runner.iter == 0 and not record.called
