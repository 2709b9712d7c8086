"""The out-of-tree example: a new associator registered from a user package
through custom_imports, selected in a config inheriting mmvireid's."""
import os
import os.path as osp
import re
import subprocess
import sys

import torch
import torch.nn.functional as F

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
EXAMPLE = osp.join(ROOT, 'examples', 'mutual_nn_associator')
CONFIG = osp.join(EXAMPLE, 'configs', 'salcr_synthvi_mnn.py')
SMOKE = osp.join(ROOT, 'tests', 'data', 'configs', 'synthvi_smoke.py')


def test_mutual_nearest_centroids(monkeypatch):
    monkeypatch.syspath_prepend(EXAMPLE)
    from mnn_associator import MutualNNAssociator

    from mmvireid.models.task_modules import ClusterSet
    eye = torch.eye(4)
    # source clusters 0, 1 match destination 1, 0; source 2 and 3 both
    # prefer destination 2, which prefers source 3: 2 stays unmatched
    src = F.normalize(
        torch.stack([eye[1], eye[0], eye[2] + 0.5 * eye[3], eye[2]]), dim=1)
    dst = eye[:3]
    labels = torch.tensor([0, 1, 2, 3, -1, 0])
    out = MutualNNAssociator()(ClusterSet(torch.zeros(6, 4), labels, src),
                               ClusterSet(
                                   torch.zeros(3, 4), torch.arange(3), dst))
    assert out.cross_labels.tolist() == [1, 0, -1, 2, -1, 1]
    assert out.plan.sum() == 3 and out.plan[3, 2] == 1
    empty = ClusterSet(torch.zeros(0, 4), torch.zeros(0).long(), dst[:0])
    assert (MutualNNAssociator()(ClusterSet(torch.zeros(6, 4), labels, src),
                                 empty).cross_labels == -1).all()


def test_example_config_trains_with_the_new_associator(tmp_path):
    """The example config, at the size of the CI smoke run: the hook uses
    the out-of-tree associator, SALCR trains through the stage switch."""
    smoke = open(SMOKE).read()
    body = re.sub(r"_base_ = \[.*\]", '', smoke)
    config = tmp_path / 'mnn_smoke.py'
    config.write_text(f'_base_ = [{CONFIG!r}]\n' + body)
    data = tmp_path / 'synthvi'
    env = dict(os.environ)
    env['PYTHONPATH'] = os.pathsep.join(
        [EXAMPLE] + [p for p in [env.get('PYTHONPATH')] if p])
    proc = subprocess.run([
        sys.executable,
        osp.join(ROOT, 'tools', 'train.py'),
        str(config), '--work-dir',
        str(tmp_path / 'work'), '--threads', '2', '--cfg-options',
        f'train_dataloader.dataset.data_root={data}',
        'custom_hooks.clustering.extract_dataloader.dataset.'
        f'data_root={data}', f'test_dataloader.dataset.data_root={data}',
        f'val_dataloader.dataset.data_root={data}', 'train_cfg.max_epochs=2'
    ],
                          capture_output=True,
                          text=True,
                          timeout=600,
                          env=env)
    log = proc.stdout + proc.stderr
    assert proc.returncode == 0, log[-4000:]
    assert "'associator': {'type': 'MutualNNAssociator'}" in log or \
        "associator=dict(type='MutualNNAssociator')" in log
    assert re.search(r'epoch 2 association: infrared->visible accuracy', log)
    steps = re.findall(r'Epoch\(train\) \[2\]\[\d/4\].*', log)
    assert steps and all('loss_cross_visible' in s for s in steps)
