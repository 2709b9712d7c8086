import os.path as osp

from mmengine.config import Config

import mmvireid  # noqa: F401  (registers the mmvireid:: config scope)

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


def test_package_config_bases_resolve(tmp_path):
    cfg_file = tmp_path / 'user_cfg.py'
    cfg_file.write_text(
        "_base_ = ['mmvireid::_base_/datasets/sysu_indoor.py']\n"
        "test_dataloader = dict(batch_size=8)\n")
    cfg = Config.fromfile(str(cfg_file))
    assert cfg.test_dataloader.dataset.type == 'SYSUMM01'
    assert cfg.test_dataloader.dataset.mode == 'indoor'
    assert cfg.test_dataloader.batch_size == 8


def test_model_index_is_valid_and_shipped():
    from mmengine.fileio import load
    index = load(osp.join(ROOT, 'model-index.yml'))
    assert isinstance(index['Import'], list)
    for metafile in index['Import']:
        assert osp.isfile(osp.join(ROOT, metafile)), metafile
        meta = load(osp.join(ROOT, metafile))
        collections = {c['Name'] for c in meta['Collections']}
        for model in meta['Models']:
            assert model['In Collection'] in collections, model['Name']
            assert osp.isfile(osp.join(ROOT, model['Config'])), model['Name']
    shipped = osp.join(osp.dirname(mmvireid.__file__), '.mim',
                       'model-index.yml')
    assert load(shipped) == index
