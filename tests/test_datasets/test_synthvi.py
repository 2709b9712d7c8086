import json
import os.path as osp

import pytest

from mmvireid.datasets import SynthVI, process_query_sysu
from mmvireid.datasets.generators import MANIFEST_NAME

TINY = dict(
    num_train_ids=4,
    num_val_ids=1,
    num_test_ids=3,
    images_per_visible_cam=2,
    images_per_ir_cam=2,
    height=32,
    width=16)


def test_generates_then_reads_as_sysu(tmp_path, recwarn):
    root = str(tmp_path / 'synthvi')
    train = SynthVI(root, generator=TINY, split='train')
    assert osp.isfile(osp.join(root, MANIFEST_NAME))
    assert set(train.get_modalities()) == {'visible', 'infrared'}
    assert len(set(train.get_pids())) == 5
    # no "official SYSU-MM01 counts" warning for the synthetic set
    assert not [w for w in recwarn if 'official' in str(w.message)]
    test = SynthVI(root, generator=TINY, split='test', trials=[0, 1])
    assert test.metainfo['eval_prefix'] == 'synthvi-all'
    assert test.metainfo['query_indices'] == list(
        range(len(process_query_sysu(root)[0])))


def test_cached_tree_with_other_parameters_is_kept(tmp_path):
    root = str(tmp_path / 'synthvi')
    SynthVI(root, generator=TINY, split='query')
    with open(osp.join(root, MANIFEST_NAME)) as f:
        before = json.load(f)
    with pytest.raises(ValueError, match='num_test_ids'):
        SynthVI(root, generator=dict(TINY, num_test_ids=4), split='query')
    with open(osp.join(root, MANIFEST_NAME)) as f:
        assert json.load(f) == before
