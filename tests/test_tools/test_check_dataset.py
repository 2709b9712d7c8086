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
