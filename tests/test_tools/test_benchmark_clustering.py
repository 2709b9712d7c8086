import os.path as osp
import subprocess
import sys

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


def test_quick_benchmark_finds_identical_labels():
    proc = subprocess.run([
        sys.executable,
        osp.join(ROOT, 'tools', 'analysis_tools', 'benchmark_clustering.py'),
        '--quick'
    ],
                          capture_output=True,
                          text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr[-2000:]
    assert 'labels identical' in proc.stdout
    assert proc.stdout.count('| True |') == 2
