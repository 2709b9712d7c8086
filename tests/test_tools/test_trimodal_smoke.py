"""Three modalities end to end: visible, infrared and a virtual
channel-augmented modality, each clustered with its own memory."""
import json
import os.path as osp
import re
import subprocess
import sys

from mmvireid.utils import load_checkpoint_file

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
CONFIG = osp.join(ROOT, 'tests', 'data', 'configs', 'trimodal_smoke.py')


def test_trimodal_training_clusters_and_contrasts_three_modalities(tmp_path):
    data, work = tmp_path / 'synthvi', tmp_path / 'work'
    proc = subprocess.run([
        sys.executable,
        osp.join(ROOT, 'tools', 'train.py'), CONFIG, '--work-dir',
        str(work), '--threads', '2', '--cfg-options',
        f'train_dataloader.dataset.dataset.data_root={data}',
        'custom_hooks.clustering.extract_dataloader.dataset.dataset.'
        f'data_root={data}', f'test_dataloader.dataset.data_root={data}',
        f'val_dataloader.dataset.data_root={data}'
    ],
                          capture_output=True,
                          text=True,
                          timeout=600)
    log = proc.stdout + proc.stderr
    assert proc.returncode == 0, log[-4000:]
    # every epoch clusters the three modalities, the virtual one included
    lines = re.findall(r'epoch \d clustering: (.*)', log)
    assert len(lines) == 2
    for line in lines:
        found = re.findall(r'(\w+): (\d+) clusters', line)
        assert [name
                for name, _ in found] == ['visible', 'infrared', 'augmented']
        assert all(int(n) > 0 for _, n in found)
    # a loss term per modality at every step
    steps = re.findall(r'Epoch\(train\) \[\d\]\[\d/3\].*', log)
    assert len(steps) == 6
    for step in steps:
        for name in ('visible', 'infrared', 'augmented'):
            value = float(re.search(rf'loss_{name}: ([0-9.]+)', step)[1])
            assert 0 < value < 1e3
    # three memories in the checkpoint, each with the epoch's clusters
    state = load_checkpoint_file(str(work / 'epoch_2.pth'))['state_dict']
    sizes = [state[f'head.memories.{m}.prototypes'].shape[0] for m in range(3)]
    assert sizes == [
        int(n) for _, n in re.findall(r'(\w+): (\d+) clusters', lines[-1])
    ]
    saved = load_checkpoint_file(str(work / 'epoch_2.pth'))['clustering']
    assert saved['modalities'] == ['visible', 'infrared', 'augmented']
    # and the model was evaluated with the SYSU protocol
    scalars = [
        json.loads(line)
        for line in open(next(work.glob('*/vis_data/scalars.json')))
    ]
    assert any(0 < s.get('synthvi-all/mAP', -1) <= 100 for s in scalars)
