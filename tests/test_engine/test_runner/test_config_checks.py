"""Config values that can only be wrong fail when the runner is built
(issue #10: "validation before any work"; row 10: evaluator prefixes)."""
import glob
import os.path as osp

import pytest
from mmengine.config import Config
from mmengine.registry import RUNNERS

from mmvireid.engine.runner import check_config
from mmvireid.engine.runner.config_checks import (check_evaluator_prefixes,
                                                  check_modalities,
                                                  declared_modalities)
from mmvireid.utils import register_all_modules

register_all_modules()

ROOT = osp.dirname(
    osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))
SMOKE = osp.join(ROOT, 'tests', 'data', 'configs', 'synthvi_smoke.py')


def metric(**kwargs):
    return dict(type='VIReIDMetric', **kwargs)


@pytest.mark.parametrize('path', [
    p for p in sorted(
        glob.glob(osp.join(ROOT, 'configs', '**', '*.py'), recursive=True) +
        glob.glob(osp.join(ROOT, 'tests', 'data', 'configs', '*.py')))
    if '_base_' not in osp.relpath(p, ROOT)
])
def test_every_shipped_config_passes(path):
    check_config(Config.fromfile(path))


@pytest.mark.parametrize('evaluator, match', [
    (metric(prefix=3), r'^test_evaluator\.prefix must be a string .*got 3 '
     r'\(int\)'),
    ([metric(), metric(prefix=['sysu'])
      ], r"^test_evaluator\[1\]\.prefix must be a string .*got \['sysu'\] "
     r'\(list\)'),
    ([metric(prefix='sysu-all'),
      metric(prefix='sysu-all', cmfp_k=5)
      ], r"^test_evaluator\[1\]\.prefix='sysu-all' is also the prefix of "
     r"test_evaluator\[0\]: both would report 'sysu-all/R1'"),
    ([metric(), metric(rerank=True)],
     r"^test_evaluator\[1\]\.prefix=\"None \(the dataset's eval_prefix\)\" "
     r'is also the prefix of test_evaluator\[0\]'),
    (dict(
        type='Evaluator',
        metrics=[
            metric(prefix='a'),
            dict(type='DumpResults', prefix='a', out_file_path='x.pkl')
        ]), r"^test_evaluator\.metrics\[1\]\.prefix='a' is also the prefix of "
     r'test_evaluator\.metrics\[0\]: both would report its keys'),
])
def test_bad_prefixes_name_the_key_and_value(evaluator, match):
    with pytest.raises(ValueError, match=match):
        check_evaluator_prefixes(dict(test_evaluator=evaluator))


def test_prefixes_that_report_distinct_keys_pass():
    check_evaluator_prefixes(
        dict(
            val_evaluator=[metric(prefix='a'),
                           metric(prefix='b')],
            # one prefix, disjoint variants: R1 ... and cmfp-R1 ...
            test_evaluator=[
                metric(prefix='a', variants='plain'),
                metric(prefix='a', cmfp_k=5, variants='cmfp')
            ]))
    # each evaluator has its own keys
    check_evaluator_prefixes(
        dict(
            val_evaluator=metric(prefix='a'),
            test_evaluator=metric(prefix='a')))


def test_a_duplicate_prefix_fails_when_the_runner_is_built(tmp_path):
    """Before the dataset is generated or anything trained (tools/train.py
    and tools/test.py build this runner)."""
    cfg = Config.fromfile(SMOKE)
    cfg.work_dir = str(tmp_path / 'work')
    cfg.test_evaluator = [metric(prefix='x'), metric(prefix='x')]
    for key in ('train_dataloader', 'test_dataloader', 'val_dataloader'):
        cfg[key].dataset.data_root = str(tmp_path / 'never')
    with pytest.raises(ValueError, match=r"test_evaluator\[1\]\.prefix='x'"):
        RUNNERS.build(cfg)
    assert not osp.exists(tmp_path / 'never')
    assert not osp.exists(tmp_path / 'work')


def trimodal():
    return Config.fromfile(
        osp.join(ROOT, 'tests', 'data', 'configs', 'trimodal_smoke.py'))


def test_declared_modalities_follow_the_dataset_config():
    cfg = trimodal()
    assert declared_modalities(cfg.train_dataloader.dataset) == ('visible',
                                                                 'infrared',
                                                                 'augmented')
    assert declared_modalities(
        cfg.train_dataloader.dataset.dataset) == ('visible', 'infrared')
    assert declared_modalities(dict(type='ConcatDataset')) is None
    assert declared_modalities(dict(type='NoSuchDataset')) is None


@pytest.mark.parametrize('change, match', [
    (lambda c: c.model.backbone.stems.pop('augmented'),
     r"^model\.backbone\.stems=\{'visible': 'visible', 'infrared': "
     r"'infrared'\} has no stem for 'augmented', but train_dataloader\."
     r"dataset declares \('visible', 'infrared', 'augmented'\)"),
    (lambda c: c.model.head.update(num_modalities=2),
     r'^model\.head\.num_modalities=2, but train_dataloader\.dataset '
     r'declares .* \(3\)'),
    (lambda c: c.custom_hooks.clustering.clusterer.update(
        eps=dict(visible=0.5, infrared=0.5)),
     r"^custom_hooks\.clustering\.clusterer\.eps=\{'visible': 0\.5, "
     r"'infrared': 0\.5\} gives \['infrared', 'visible'\], but "),
    (lambda c: c.custom_hooks.clustering.extract_dataloader.update(
        dataset=c.train_dataloader.dataset.dataset),
     r"^custom_hooks\.clustering\.extract_dataloader\.dataset declares "
     r"\('visible', 'infrared'\), but train_dataloader\.dataset declares"),
])
def test_modality_lists_must_match_the_training_set(change, match):
    cfg = trimodal()
    check_modalities(cfg)
    change(cfg)
    with pytest.raises(ValueError, match=match):
        check_modalities(cfg)


def test_list_form_hooks_are_checked_too():
    cfg = trimodal()
    clustering = dict(cfg.custom_hooks.clustering)
    clustering['clusterer'] = dict(
        clustering['clusterer'], eps=dict(visible=0.5))
    cfg.custom_hooks = [dict(type='EpochSeedHook'), clustering]
    with pytest.raises(
            ValueError, match=r'^custom_hooks\[1\]\.clusterer\.eps='):
        check_config(cfg)
    assert check_config(None) is None
