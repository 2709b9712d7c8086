"""Import the scripts under ``tools/`` (not a package) in tests."""
import importlib.util
import os.path as osp
import subprocess
import sys

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))


def load_tool(relpath: str):
    """Import ``tools/<relpath>`` as a module named after its file."""
    path = osp.join(ROOT, 'tools', relpath)
    spec = importlib.util.spec_from_file_location(
        osp.splitext(osp.basename(path))[0], path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def run_quick(relpath: str, timeout: float = 60) -> str:
    """Run ``tools/<relpath> --quick`` in a child process from the
    repository root; assert it exits 0 and return its standard output."""
    out = subprocess.run(
        [sys.executable,
         osp.join(ROOT, 'tools', relpath), '--quick'],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout)
    assert out.returncode == 0, out.stdout + out.stderr
    return out.stdout
