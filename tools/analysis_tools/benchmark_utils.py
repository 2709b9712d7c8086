"""Shared plumbing of the ``benchmark_*.py`` scripts.

Every benchmark runs each variant in a fresh spawned child process, so its
memory figure is the child's own: the peak resident set size
(``getrusage(RUSAGE_SELF).ru_maxrss``, kernel-tracked) minus the resident
size once its inputs are loaded (:func:`rss_mib` at that point). The
scripts load this module, and their baselines, by path (``tools/`` is not a
package): :func:`load_script`.
"""
import importlib.util
import multiprocessing as mp
import os
import os.path as osp
import resource
from typing import Callable

HERE = osp.dirname(osp.abspath(__file__))


def load_script(path: str):
    """Import a Python file that is not part of a package."""
    name = osp.splitext(osp.basename(path))[0]
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def load_baseline(name: str):
    """Import ``baselines/<name>.py``."""
    return load_script(osp.join(HERE, 'baselines', f'{name}.py'))


def rss_mib() -> float:
    """Current resident set size of this process, MiB."""
    with open('/proc/self/statm') as f:
        return int(f.read().split()[1]) * os.sysconf('SC_PAGE_SIZE') / 2**20


def peak_mib() -> float:
    """Peak resident set size of this process so far, MiB."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def measure(run_variant: Callable,
            variant: str,
            path: str,
            args: dict,
            in_process: bool = False) -> dict:
    """Run ``run_variant(variant, path, args, conn)`` in a spawned child (or,
    without memory figures, in this process) and return what it sent.

    ``run_variant`` must be a module-level function of the running script
    (the spawned child imports it by name) that sends one dict through
    ``conn`` with at least ``peak_mib``.
    """
    if in_process:
        parent, child = mp.Pipe(duplex=False)
        run_variant(variant, path, args, child)
        result = parent.recv()
        result['peak_mib'] = float('nan')
        return result
    ctx = mp.get_context('spawn')
    parent, child = ctx.Pipe(duplex=False)
    proc = ctx.Process(target=run_variant, args=(variant, path, args, child))
    proc.start()
    child.close()
    result = parent.recv()
    proc.join()
    return result
