"""Shared fixtures (see data_trees.py for the tree builders)."""
import pytest
from data_trees import make_regdb_tree, make_sysu_tree


@pytest.fixture
def sysu_root(tmp_path) -> str:
    """A small SYSU-MM01 tree; test id 7 has no cam2 and no cam6 folder."""
    return make_sysu_tree(
        str(tmp_path / 'SYSU-MM01'), images={
            (2, 7): 0,
            (6, 7): 0
        })


@pytest.fixture
def regdb_root(tmp_path) -> str:
    """A small RegDB tree with trials 1 and 2."""
    return make_regdb_tree(str(tmp_path / 'RegDB'))
