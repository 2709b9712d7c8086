"""Make mmengine 0.10.x's config tools work for mmvireid.

1. ``mmvireid::`` config bases. mmengine resolves
   ``_base_ = ['mmvireid::salcr/sysu.py']`` through a fixed table of
   OpenMMLab packages (``MODULE2PACKAGE``) and through ``pkg_resources``,
   which setuptools 81 removed and which reports the wrong folder for PEP
   660 editable installs. This module adds mmvireid to the table and gives
   ``mmengine.config`` importlib-based look-ups of where an installed
   package lives; the configs, tools and ``model-index.yml`` are
   shipped under ``mmvireid/.mim`` by ``setup.py``.

2. ``--cfg-options`` values with spaces. mmengine's ``DictAction`` removes
   every space of a value before parsing it (``_parse_iterable``:
   ``val.strip('\'"').replace(' ', '')``), so ``--cfg-options
   data_root="my data ñ/行人 synthvi"`` became ``'mydatañ/行人synthvi'``
   and a dataset was generated there (issue #10, row 7).
   :class:`CfgOptionsAction` reads values without spaces exactly as
   mmengine does and keeps the spaces inside the others (list and tuple
   syntax included: ``a=[1, 2]`` is still ``[1, 2]``), saying so when
   mmengine would have read something else.
"""
import argparse
import importlib.metadata
import importlib.util
import os.path as osp
from typing import Any, List, Optional, Sequence, Tuple, Union

import mmengine.config.config as mmengine_config
from mmengine.config import DictAction
from mmengine.config.utils import MODULE2PACKAGE
from mmengine.logging import print_log

MODULE2PACKAGE.setdefault('mmvireid', 'mmvireid')

_pkg_resources_installed_path = mmengine_config.get_installed_path


def is_installed(package: str) -> bool:
    """Whether ``package`` is installed (distribution or importable module).

    Args:
        package (str): Distribution or module name.

    Returns:
        bool: True if installed.
    """
    try:
        importlib.metadata.distribution(package)
        return True
    except importlib.metadata.PackageNotFoundError:
        return importlib.util.find_spec(package) is not None


def get_installed_path(package: str) -> str:
    """Folder of an installed package's module, editable installs included.

    Args:
        package (str): Package name, e.g. ``'mmvireid'``.

    Returns:
        str: The folder holding the package's ``__init__.py``.
    """
    spec = importlib.util.find_spec(package)
    if spec is not None and spec.origin is not None:
        return osp.dirname(spec.origin)
    return _pkg_resources_installed_path(package)


mmengine_config.is_installed = is_installed
mmengine_config.get_installed_path = get_installed_path


def _top_level_items(text: str, key: str) -> List[str]:
    """Comma-separated items of ``text``, commas inside brackets kept (the
    items of mmengine's list syntax); a trailing blank item is dropped,
    as mmengine does."""
    items, depth, start = [], 0, 0
    for pos, char in enumerate(text):
        if char in '([':
            depth += 1
        elif char in ')]':
            depth -= 1
        elif char == ',' and depth == 0:
            items.append(text[start:pos])
            start = pos + 1
        if depth < 0:
            break
    if depth != 0:
        raise ValueError(f'--cfg-options {key}: unbalanced brackets in '
                         f'{text!r}')
    if text[start:].strip() or not items:
        items.append(text[start:])
    return items


def _parse_keeping_spaces(text: str, key: str) -> Any:
    """mmengine's ``DictAction._parse_iterable`` without the removal of
    spaces: items are stripped at their ends only."""
    text = text.strip().strip('\'"')
    if text.startswith('(') and text.endswith(')'):
        inner = text[1:-1]
        return tuple(
            _parse_keeping_spaces(item, key)
            for item in _top_level_items(inner, key)) if inner.strip() else ()
    if text.startswith('[') and text.endswith(']'):
        inner = text[1:-1]
        return [
            _parse_keeping_spaces(item, key)
            for item in _top_level_items(inner, key)
        ] if inner.strip() else []
    if ',' not in text:
        return DictAction._parse_int_float_bool(text)
    return [
        _parse_keeping_spaces(item, key)
        for item in _top_level_items(text, key)
    ]


def parse_cfg_option(key: str, raw: str) -> Tuple[Any, Optional[str]]:
    """The value of one ``--cfg-options KEY=RAW`` and, when mmengine's
    ``DictAction`` would read it otherwise, a note saying so.

    A ``raw`` without a space is read by mmengine's parser, unchanged. One
    with spaces (a shell-quoted argument, e.g. ``data_root="my data"``)
    keeps them inside its values: ``'my data'``, ``[1, 2]`` -> ``[1, 2]``,
    ``['a b', c]`` -> ``['a b', 'c']``; only the spaces around items and
    the outer quotes go, as in mmengine.

    Args:
        key (str): The option's key (for the note and errors).
        raw (str): Everything after the first ``=``.

    Returns:
        tuple: The value, and None or the note (which names the key, the
        value kept and mmengine's reading).

    Raises:
        ValueError: Unbalanced brackets in a value with spaces.
    """
    if ' ' not in raw:
        return DictAction._parse_iterable(raw), None
    value = _parse_keeping_spaces(raw, key)
    try:
        theirs: Any = DictAction._parse_iterable(raw)
    except AssertionError:  # mmengine asserts balanced brackets
        theirs = None
    if type(theirs) is type(value) and theirs == value:
        return value, None
    return value, (f'--cfg-options {key}: kept the spaces of the value, '
                   f"{value!r} (mmengine's DictAction would remove them and "
                   f'read {theirs!r})')


class CfgOptionsAction(DictAction):
    """mmengine's :class:`~mmengine.config.DictAction` (``KEY=VALUE``
    pairs into a dict) that keeps the spaces inside values (see
    :func:`parse_cfg_option`) and logs a note when mmengine would have
    removed them; an item without ``=`` is a usage error naming it."""

    def __call__(self,
                 parser: argparse.ArgumentParser,
                 namespace: argparse.Namespace,
                 values: Union[str, Sequence[Any], None],
                 option_string: Optional[str] = None) -> None:
        """Parse ``KEY=VALUE`` items into the namespace's dict."""
        options = dict(getattr(namespace, self.dest, None) or {})
        for item in values or ():
            key, sep, raw = item.partition('=')
            if not sep or not key:
                parser.error(f'{option_string or "--cfg-options"}: expected '
                             f'KEY=VALUE, got {item!r}')
            try:
                options[key], note = parse_cfg_option(key, raw)
            except ValueError as err:
                parser.error(str(err))
            if note is not None:
                print_log(note, logger='current')
        setattr(namespace, self.dest, options)
