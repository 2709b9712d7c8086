import os.path as osp

from data_trees import make_regdb_tree
from tool_scripts import load_tool

tool = load_tool('dataset_converters/check_dataset.py')


def test_sysu_counts_reported(sysu_root, capsys):
    assert tool.main(['sysu', sysu_root]) == 1
    out = capsys.readouterr().out
    assert 'train ids / visible / infrared' in out
    assert '4 / 48 / 24' in out and '395 / 22258 / 11909' in out
    assert 'MISMATCH' in out and 'prepared wrongly' in out


def test_regdb_counts_reported(tmp_path, capsys):
    root = make_regdb_tree(str(tmp_path / 'RegDB'), trials=range(1, 11))
    assert tool.main(['regdb', root]) == 1
    out = capsys.readouterr().out
    assert 'trial 10 test ids / visible / thermal' in out
    assert '2 / 4 / 4' in out


def test_verify_images_reports_every_bad_file(sysu_root, capsys, monkeypatch):
    monkeypatch.setattr(tool, 'report', lambda rows: True)  # counts ok
    assert tool.main(['sysu', sysu_root, '--verify-images']) == 0
    assert 'all 120 images decode' in capsys.readouterr().out
    # a training image and a test image no query or gallery draw uses yet
    empty = osp.join(sysu_root, 'cam1', '0002', '0003.jpg')
    junk = osp.join(sysu_root, 'cam5', '0007', '0002.jpg')
    open(empty, 'wb').close()
    with open(junk, 'wb') as f:
        f.write(b'GIF89a no image')
    assert tool.main(['sysu', sysu_root]) == 0  # images not opened
    capsys.readouterr()
    assert tool.main(['sysu', sysu_root, '--verify-images', '--workers',
                      '2']) == 1
    out = capsys.readouterr().out
    assert '2 of 120 images cannot be loaded' in out
    assert f'{empty}: empty (0 bytes)\n{junk}: cannot decode' in out
