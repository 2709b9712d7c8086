"""``--cfg-options`` of the tools keeps the spaces inside values (issue #10,
row 7: mmengine's DictAction turned ``my data`` into ``mydata``)."""
import argparse
import os.path as osp

import pytest
from mmengine.config import DictAction

from mmvireid.utils.config_compat import parse_cfg_option
from mmvireid.utils.launch import add_launch_args, load_config

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
PATH = 'my data ñ/行人 synthvi'


def parse(*items):
    parser = argparse.ArgumentParser()
    add_launch_args(parser)
    return parser.parse_args(['--cfg-options', *items]).cfg_options


def test_a_quoted_path_with_spaces_and_non_ascii_is_kept_verbatim(tmp_path):
    root = str(tmp_path / PATH)
    # what the shell passes for --cfg-options data_root="<root>" ...
    options = parse(f'train_dataloader.dataset.data_root={root}',
                    f'test_dataloader.dataset.data_root="{root}"',
                    'train_cfg.max_epochs=2')
    assert options == {
        'train_dataloader.dataset.data_root': root,
        'test_dataloader.dataset.data_root': root,
        'train_cfg.max_epochs': 2
    }
    # and the config the tools load has it
    cfg = load_config(
        osp.join(ROOT, 'tests', 'data', 'configs', 'synthvi_smoke.py'),
        cfg_options=options)
    assert cfg.train_dataloader.dataset.data_root == root
    assert cfg.test_dataloader.dataset.data_root == root
    assert cfg.train_cfg.max_epochs == 2


def test_the_user_is_told_what_mmengine_would_have_read():
    value, note = parse_cfg_option('data_root', PATH)
    assert value == PATH
    assert note == (
        "--cfg-options data_root: kept the spaces of the value, "
        f"'{PATH}' (mmengine's DictAction would remove them and read "
        "'mydatañ/行人synthvi')")
    # nothing to say when the spaces change nothing
    assert parse_cfg_option('a', '[1, 2]') == ([1, 2], None)


@pytest.mark.parametrize('raw, value', [
    ('[1, 2]', [1, 2]),
    ('( 1, 2 )', (1, 2)),
    ('[(1, 2, 3), [a, b], c]', [(1, 2, 3), ['a', 'b'], 'c']),
    ("['my file.jpg', b]", ['my file.jpg', 'b']),
    ('[1, ]', [1]),
    ('a b, c', ['a b', 'c']),
    (' 0.5 ', 0.5),
    ('[ ]', []),
])
def test_lists_and_tuples_keep_working_with_spaces(raw, value):
    got = parse(f'k={raw}')['k']
    assert got == value and type(got) is type(value)


@pytest.mark.parametrize('raw', [
    '1', '0.5', 'True', 'None', 'a,b', '[1,2]', '(1,2)', '[(1,2),[a,b],c]',
    '"quoted"', 'x=y', ''
])
def test_values_without_spaces_read_exactly_as_mmengine_reads_them(raw):
    got, note = parse_cfg_option('k', raw)
    want = DictAction._parse_iterable(raw)
    assert got == want and type(got) is type(want) and note is None


def test_an_item_without_a_value_or_unbalanced_brackets_is_a_usage_error(
        capsys):
    with pytest.raises(SystemExit):
        parse('data_root')
    assert "expected KEY=VALUE, got 'data_root'" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        parse('k=[a b, c')
    assert "--cfg-options k: unbalanced brackets in '[a b, c'" in \
        capsys.readouterr().err
