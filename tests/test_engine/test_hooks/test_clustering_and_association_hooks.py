"""ClusteringHook + AssociationHook + CrossModalClusterSampler in a Runner."""
import numpy as np
import pytest
import torch
import torch.nn as nn
from mmengine.model import BaseModel
from mmengine.runner import Runner

from mmvireid.registry import MODELS
from mmvireid.structures import PseudoLabelConsumer
from mmvireid.utils import register_all_modules

register_all_modules()


@MODELS.register_module(force=True)
class OracleFeatureModel(PseudoLabelConsumer, BaseModel):
    """Test double: its features are one-hot true ids (a perfect model), so
    the expected clusters and associations are known exactly."""

    def __init__(self, num_ids=16):
        super().__init__(data_preprocessor=dict(type='VIReIDDataPreprocessor'))
        self.linear = nn.Linear(3, 1)
        self.num_ids = num_ids
        self.seen = []

    def forward(self, inputs, data_samples=None, mode='tensor'):
        if mode == 'loss':
            self.seen.append([s.sample_idx for s in data_samples])
            return dict(
                loss=self.linear(inputs.float().mean((2, 3))).pow(2).mean())
        g = torch.Generator().manual_seed(0)
        for s in data_samples:
            feat = torch.zeros(self.num_ids)
            feat[s.pid] = 1
            s.set_field(feat + 0.01 * torch.rand(self.num_ids, generator=g),
                        'pred_feature')
        return data_samples

    def set_pseudo_labels(self, pseudo_labels):
        if pseudo_labels.cross_labels:
            self.associations = pseudo_labels
        else:
            self.clusters = pseudo_labels


def make_runner(sysu_root, work_dir, mode='paired', max_epochs=2):
    pipeline = [
        dict(type='LoadVIReIDImage'),
        dict(type='mmcv.Resize', scale=(8, 16), keep_ratio=False),
        dict(type='PackVIReIDInputs')
    ]
    dataset = dict(
        type='SYSUMM01',
        data_root=sysu_root,
        split='train',
        check_counts=False,
        pipeline=pipeline)
    return Runner(
        model=dict(type='OracleFeatureModel'),
        work_dir=work_dir,
        train_dataloader=dict(
            dataset=dataset,
            sampler=dict(
                type='CrossModalClusterSampler',
                num_clusters=2,
                num_instances=2,
                iters_per_epoch=3,
                mode=mode),
            batch_size=8,
            collate_fn=dict(type='pseudo_collate')),
        train_cfg=dict(by_epoch=True, max_epochs=max_epochs),
        optim_wrapper=dict(optimizer=dict(type='SGD', lr=0.01)),
        custom_hooks=[
            dict(
                type='ClusteringHook',
                extract_dataloader=dict(
                    dataset=dataset,
                    sampler=dict(type='DefaultSampler', shuffle=False),
                    batch_size=16,
                    collate_fn=dict(type='pseudo_collate')),
                eps=0.5,
                min_samples=2,
                k1=11,
                k2=2,
                show_progress=False),
            dict(type='AssociationHook', cmfp_k=3)
        ],
        default_hooks=dict(logger=dict(type='LoggerHook', interval=1)),
        randomness=dict(seed=0),
        default_scope='mmvireid')


def test_hooks_cluster_associate_and_feed_the_sampler(sysu_root, tmp_path):
    runner = make_runner(sysu_root, str(tmp_path / 'work'))
    runner.train()
    model = runner.model
    clusters, assoc = model.clusters, model.associations
    dataset = runner.train_dataloader.dataset
    pids = dataset.get_pids()
    infrared = dataset.get_modalities() == 'infrared'
    labels = clusters.labels.numpy()
    # the oracle features give one cluster per identity and modality
    for mask in (infrared, ~infrared):
        assert len(set(labels[mask])) == 4 and (labels[mask] >= 0).all()
        for cluster in set(labels[mask]):
            assert len(set(pids[mask][labels[mask] == cluster])) == 1
    # and a perfect association
    cross = assoc.merged_cross_labels().numpy()
    assert set(
        assoc.cross_labels) == {'visible->infrared', 'infrared->visible'}
    # the soft plans of the OT associator come with the hard labels
    plan = assoc.plans['infrared->visible']
    assert plan.shape == (int((labels[infrared] >= 0).sum()), 4)
    assert (plan.argmax(1).numpy() == cross[infrared]).all()
    for own, other in ((infrared, ~infrared), (~infrared, infrared)):
        for i in np.flatnonzero(own):
            partners = pids[other][labels[other] == cross[i]]
            assert set(partners) == {pids[i]}
    # the paired sampler used those labels: each batch pairs identities
    assert len(model.seen) == 2 * 3
    for batch in model.seen:
        batch = np.array(batch)
        assert not infrared[batch[:4]].any() and infrared[batch[4:]].all()
        assert (pids[batch[:4]] == pids[batch[4:]]).all()
    log = open(runner.logger.log_file).read()
    assert 'clustering: visible: 4 clusters, 0 outliers of 48' in log
    assert 'purity 1.000' in log
    assert 'infrared->visible accuracy 1.000' in log
    hub = runner.message_hub
    assert hub.get_scalar('clustering/infrared_num_clusters').current() == 4


def test_labels_are_saved_in_checkpoints(sysu_root, tmp_path):
    runner = make_runner(
        sysu_root, str(tmp_path / 'work'), mode='intra', max_epochs=1)
    runner.train()
    from mmvireid.utils import load_checkpoint_file
    ckpt = load_checkpoint_file(str(tmp_path / 'work' / 'epoch_1.pth'))
    saved = ckpt['clustering']
    assert saved['labels'].shape == (72, ) and saved['epoch'] == 0
    assert saved['modalities'] == ['visible', 'infrared']
    hook = [h for h in runner.hooks if type(h).__name__ == 'ClusteringHook'][0]
    hook.result = None
    hook.after_load_checkpoint(runner, ckpt)
    assert torch.equal(hook._restored.labels, saved['labels'])
    assert torch.equal(hook._restored.modality_ids, saved['modality_ids'])
    # labels of the layout before the contract are not restored
    hook._restored = None
    hook.after_load_checkpoint(runner,
                               dict(clustering=dict(labels=saved['labels'])))
    assert hook._restored is None


def test_ground_truth_labels_and_association(sysu_root, tmp_path):
    """The ceiling options: true ids replace clusters and association."""
    runner = make_runner(sysu_root, str(tmp_path / 'work'), max_epochs=1)
    clustering, association = [
        h for h in runner.hooks
        if type(h).__name__ in ('ClusteringHook', 'AssociationHook')
    ]
    clustering.label_source = 'ground_truth'
    association.ground_truth = True
    # random features: DBSCAN could not recover the ids from them
    runner.model.forward = _random_features(runner.model.forward)
    runner.train()
    dataset = runner.train_dataloader.dataset
    pids = dataset.get_pids()
    infrared = dataset.get_modalities() == 'infrared'
    labels = runner.model.clusters.labels.numpy()
    cross = runner.model.associations.merged_cross_labels().numpy()
    for own, other in ((infrared, ~infrared), (~infrared, infrared)):
        _, expected = np.unique(pids[own], return_inverse=True)
        assert (labels[own] == expected).all()
        for i in np.flatnonzero(own):
            assert set(pids[other][labels[other] == cross[i]]) == {pids[i]}
    log = open(runner.logger.log_file).read()
    assert 'infrared->visible accuracy 1.000' in log
    with pytest.raises(ValueError, match='label_source'):
        type(clustering)(extract_dataloader={}, label_source='kmeans')


def _random_features(forward):

    def wrapped(inputs, data_samples=None, mode='tensor'):
        out = forward(inputs, data_samples, mode)
        if mode == 'predict':
            for s in out:
                s.pred_feature = torch.randn(16)
        return out

    return wrapped


def test_extraction_precision_follows_the_optimizer_wrapper():
    """``amp=None`` extracts in mixed precision exactly when training does
    (``AmpOptimWrapper``, i.e. ``tools/train.py --amp``); an explicit
    ``amp`` wins."""
    from types import SimpleNamespace

    from mmengine.optim import AmpOptimWrapper, OptimWrapper

    from mmvireid.engine.hooks import ClusteringHook
    amp_run = SimpleNamespace(
        optim_wrapper=AmpOptimWrapper.__new__(AmpOptimWrapper))
    fp32_run = SimpleNamespace(
        optim_wrapper=OptimWrapper(
            torch.optim.SGD([nn.Parameter(torch.zeros(1))], lr=0.1)))
    follow = ClusteringHook(extract_dataloader={})
    assert follow.uses_amp(amp_run) and not follow.uses_amp(fp32_run)
    assert ClusteringHook(extract_dataloader={}, amp=True).uses_amp(fp32_run)
    assert not ClusteringHook(
        extract_dataloader={}, amp=False).uses_amp(amp_run)


def test_knn_options_reach_the_jaccard_distance(sysu_root, tmp_path,
                                                monkeypatch):
    """knn_cfg of the config is what the k-NN search receives."""
    from mmvireid.engine.hooks import clustering_hook
    from mmvireid.models.utils import dbscan_clustering
    from mmvireid.utils.knn import check_knn_cfg
    seen = []
    jaccard = dbscan_clustering.k_reciprocal_jaccard

    def spy(features, **kwargs):
        seen.append(kwargs)
        return jaccard(features, **kwargs)

    monkeypatch.setattr(dbscan_clustering, 'k_reciprocal_jaccard', spy)
    runner = make_runner(sysu_root, str(tmp_path / 'work'), max_epochs=1)
    hook = next(
        h for h in runner.hooks
        if isinstance(h, clustering_hook.ClusteringHook))
    hook.knn_cfg = check_knn_cfg(dict(chunk_size=7))
    runner.train()
    assert len(seen) == 2 and all(kw['chunk_size'] == 7 for kw in seen)


@pytest.mark.parametrize('knn_cfg, error', [
    (dict(chunk=3), 'unknown knn_cfg'),
    (dict(knn_backend='annoy'), 'knn_backend must be one of'),
    (dict(chunk_size=0), 'chunk_size must be a positive int'),
])
def test_bad_knn_options_fail_at_build_time(knn_cfg, error):
    from mmvireid.engine.hooks import ClusteringHook
    with pytest.raises(ValueError, match=error):
        ClusteringHook(extract_dataloader=dict(), knn_cfg=knn_cfg)


def test_faiss_backend_without_faiss_is_a_clear_error(monkeypatch):
    import builtins

    from mmvireid.engine.hooks import ClusteringHook
    real_import = builtins.__import__

    def no_faiss(name, *args, **kwargs):
        if name == 'faiss':
            raise ImportError('no faiss here')
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, '__import__', no_faiss)
    with pytest.raises(ImportError, match='faiss-cpu'):
        ClusteringHook(
            extract_dataloader=dict(), knn_cfg=dict(knn_backend='faiss'))
