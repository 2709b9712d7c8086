"""Registries find mmvireid's classes lazily through ``locations``."""
import subprocess
import sys

from mmvireid import registry


def test_every_registry_is_a_child_with_locations():
    for name in registry.__all__:
        reg = getattr(registry, name)
        assert reg.scope == 'mmvireid', name
        assert reg.parent is not None and reg.parent.scope == 'mmengine'
        assert all(loc.startswith('mmvireid.') for loc in reg._locations)


def test_lazy_registration_without_explicit_imports():
    # a fresh interpreter that only imports the registry module
    code = ('from mmengine.registry import DefaultScope\n'
            'from mmvireid.registry import DATASETS, METRICS, MODELS, '
            'TRANSFORMS\n'
            "DefaultScope.get_instance('t', scope_name='mmvireid')\n"
            "assert DATASETS.get('SYSUMM01').__name__ == 'SYSUMM01'\n"
            "assert METRICS.get('VIReIDMetric') is not None\n"
            "assert MODELS.get('ReIDer') is not None\n"
            "assert TRANSFORMS.get('PackVIReIDInputs') is not None\n"
            "assert MODELS.get('mmpretrain.ResNet') is not None\n")
    subprocess.run([sys.executable, '-c', code], check=True, timeout=120)
