"""Make ``mmvireid::`` config bases resolve with mmengine 0.10.x.

mmengine resolves ``_base_ = ['mmvireid::salcr/sysu.py']`` through a fixed
table of OpenMMLab packages (``MODULE2PACKAGE``) and through
``pkg_resources``, which setuptools 81 removed and which reports the wrong
folder for PEP 660 editable installs. This module adds mmvireid to the
table and gives ``mmengine.config`` importlib-based look-ups of where an
installed package lives; the configs, tools and ``model-index.yml`` are
shipped under ``mmvireid/.mim`` by ``setup.py``.
"""
import importlib.metadata
import importlib.util
import os.path as osp

import mmengine.config.config as mmengine_config
from mmengine.config.utils import MODULE2PACKAGE

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
