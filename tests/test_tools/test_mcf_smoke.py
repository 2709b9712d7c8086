"""MCF end to end on a tiny SynthVI: three modalities with the views'
labels following their images, PA-CBAM, MAAL's alternating step with its
own optimiser, VRA association, cross contrast and uniform merging; and a
resumed run that ends exactly where an uninterrupted one does (both
optimisers included)."""
import os.path as osp
import re
import subprocess
import sys

import torch

from mmvireid.utils import load_checkpoint_file

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
CONFIG = osp.join(ROOT, 'tests', 'data', 'configs', 'mcf_smoke.py')


def train(data, work, epochs, *options):
    proc = subprocess.run([
        sys.executable,
        osp.join(ROOT, 'tools', 'train.py'), CONFIG, '--work-dir',
        str(work), '--threads', '1', *options, '--cfg-options',
        f'train_dataloader.dataset.dataset.data_root={data}',
        'custom_hooks.clustering.extract_dataloader.dataset.dataset.'
        f'data_root={data}', f'test_dataloader.dataset.data_root={data}',
        f'val_dataloader.dataset.data_root={data}',
        f'train_cfg.max_epochs={epochs}', 'train_cfg.val_interval=2'
    ],
                          capture_output=True,
                          text=True,
                          timeout=600)
    log = proc.stdout + proc.stderr
    assert proc.returncode == 0, log[-4000:]
    return log


def test_mcf_trains_and_resumes_exactly(tmp_path):
    data = tmp_path / 'synthvi'
    log = train(data, tmp_path / 'whole', 2)
    # the views take their images' clusters
    for line in re.findall(r'epoch \d clustering: (.*)', log):
        found = dict(re.findall(r'(\w+): (\d+) clusters', line))
        assert found['augmented'] == found['visible']
    # stage 1: intra, PA-CBAM and MAAL terms; stage 2 adds VRA's terms
    steps = re.findall(r'Epoch\(train\) \[(\d)\]\[\d/3\](.*)', log)
    assert len(steps) == 6
    for epoch, step in steps:
        names = set(re.findall(r'(loss_\w+|modality_acc):', step))
        want = {
            'loss_visible', 'loss_infrared', 'loss_augmented', 'loss_channel',
            'loss_modality_align', 'loss_modality_cls', 'modality_acc'
        }
        if epoch == '2':  # 0-based epoch 1: odd, infrared merges
            want |= {
                'loss_cross_visible', 'loss_cross_infrared',
                'loss_merge_infrared'
            }
        assert names == want, (epoch, names)
    assert re.search(r'epoch 2 association: visible->infrared accuracy', log)

    train(data, tmp_path / 'first', 1)
    train(data, tmp_path / 'first', 2, '--resume')
    whole = load_checkpoint_file(str(tmp_path / 'whole' / 'epoch_2.pth'))
    resumed = load_checkpoint_file(str(tmp_path / 'first' / 'epoch_2.pth'))
    for key, value in whole['state_dict'].items():
        assert torch.equal(value, resumed['state_dict'][key]), key
    # both optimisers: the adversary's and the rest's
    assert set(whole['optimizer']) == {'adversary', 'rest'}
    for name in ('adversary', 'rest'):
        want = whole['optimizer'][name]['state']
        got = resumed['optimizer'][name]['state']
        assert want.keys() == got.keys() and want
        for index, state in want.items():
            for field, value in state.items():
                assert torch.equal(
                    torch.as_tensor(value),
                    torch.as_tensor(got[index][field])), (name, index, field)
