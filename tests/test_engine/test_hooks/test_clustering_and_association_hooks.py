"""ClusteringHook + AssociationHook + CrossModalClusterSampler in a Runner."""
import re

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

#: the clusterer of the tiny SYSU tree's runs
TINY_CLUSTERER = dict(
    type='JaccardDBSCAN', eps=0.5, min_samples=2, k1=11, k2=2)


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


def make_runner(sysu_root,
                work_dir,
                mode='paired',
                max_epochs=2,
                clusterer=None,
                association=None):
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
                clusterer=clusterer or TINY_CLUSTERER,
                show_progress=False),
            dict(
                type='AssociationHook',
                **(association
                   or dict(refiners=dict(cmfp=dict(type='CMFPRefiner', k=3)))))
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
    # the components that ran, with their seconds
    assert re.search(r'\[extraction [0-9.]+ s, JaccardDBSCAN [0-9.]+ s\]', log)
    assert re.search(r'\[cmfp [0-9.]+ s, OTAssociator [0-9.]+ s\]', log)
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
    """The ceiling components: true ids replace clusters and association."""
    runner = make_runner(
        sysu_root,
        str(tmp_path / 'work'),
        max_epochs=1,
        clusterer=dict(type='GroundTruthClusterer'),
        association=dict(associator=dict(type='GroundTruthAssociator')))
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
    assert 'GroundTruthClusterer' in log and 'GroundTruthAssociator' in log


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
    from mmvireid.models.utils import dbscan_clustering
    seen = []
    jaccard = dbscan_clustering.k_reciprocal_jaccard

    def spy(features, **kwargs):
        seen.append(kwargs)
        return jaccard(features, **kwargs)

    monkeypatch.setattr(dbscan_clustering, 'k_reciprocal_jaccard', spy)
    runner = make_runner(
        sysu_root,
        str(tmp_path / 'work'),
        max_epochs=1,
        clusterer=dict(TINY_CLUSTERER, knn_cfg=dict(chunk_size=7)))
    runner.train()
    assert len(seen) == 2 and all(kw['chunk_size'] == 7 for kw in seen)


@pytest.mark.parametrize('clusterer, error, match', [
    (dict(type='JaccardDBSCAN', eps=0.5,
          knn_cfg=dict(chunk=3)), ValueError, 'unknown knn_cfg'),
    (dict(type='JaccardDBSCAN', eps=0.5, knn_cfg=dict(knn_backend='annoy')),
     ValueError, 'knn_backend must be one of'),
    (dict(type='JaccardDBSCAN', eps=0.5, knn_cfg=dict(chunk_size=0)),
     ValueError, 'chunk_size must be a positive int'),
    (dict(type='JaccardDBSCAN', eps=1.5), ValueError,
     r'ClusteringHook clusterer: JaccardDBSCAN: eps .* got 1.5'),
    (dict(type='JaccardDBSCAN', eps=0.5,
          k3=2), TypeError, "ClusteringHook clusterer: .*'k3'"),
    (dict(type='KMeans'), KeyError, 'ClusteringHook clusterer: KMeans'),
    (dict(type='CMFPRefiner', k=3), TypeError, 'not a BaseClusterer'),
    (dict(type='JaccardDBSCAN', eps=0.5,
          schedule=dict(epochs=2)), ValueError, 'unknown schedule key'),
])
def test_bad_clusterers_fail_at_build_time(clusterer, error, match):
    from mmvireid.engine.hooks import ClusteringHook
    with pytest.raises(error, match=match):
        ClusteringHook(extract_dataloader=dict(), clusterer=clusterer)


@pytest.mark.parametrize('kwargs, error, match', [
    (dict(refiners=dict(cmfp=dict(type='CMFPRefiner', kk=3))), TypeError,
     "AssociationHook refiners.cmfp: .*'kk'"),
    (dict(refiners=dict(cmfp=dict(type='CMFPRefiner', k=0))), ValueError,
     'AssociationHook refiners.cmfp: CMFPRefiner: k must be'),
    (dict(refiners=[dict(type='CMFPRefiner', k=3)]), TypeError,
     'refiners must be a dict'),
    (dict(associator=dict(type='OTAssociator', lambda_ot=0)), ValueError,
     'AssociationHook associator: lambda_ot'),
    (dict(pairs=[('visible', 'visible')]), ValueError, 'pairs must be'),
])
def test_bad_association_components_fail_at_build_time(kwargs, error, match):
    from mmvireid.engine.hooks import AssociationHook
    with pytest.raises(error, match=match):
        AssociationHook(**kwargs)


def test_refiners_run_in_key_order_and_none_removes_one():
    from mmvireid.engine.hooks import AssociationHook
    hook = AssociationHook(
        refiners=dict(
            b=dict(type='CMFPRefiner', k=2),
            gone=None,
            a=dict(type='CMFPRefiner', k=5)))
    assert [(r.name, r.component.k) for r in hook.refiners] == [('b', 2),
                                                                ('a', 5)]
    assert AssociationHook().refiners == []
    assert type(AssociationHook().associator).__name__ == 'OTAssociator'


def test_clustering_schedule_keeps_the_labels_between_runs(
        sysu_root, tmp_path, monkeypatch):
    """The hook's interval and the clusterer's schedule: other epochs keep
    the last labels (and say so); the first epoch always clusters."""
    from mmvireid.engine.hooks import ClusteringHook
    runner = make_runner(
        sysu_root,
        str(tmp_path / 'work'),
        mode='intra',
        max_epochs=4,
        clusterer=dict(TINY_CLUSTERER, schedule=dict(start_epoch=2)))
    hook = next(h for h in runner.hooks if isinstance(h, ClusteringHook))
    hook.schedule.interval = 2  # as ClusteringHook(interval=2)
    clustered = []
    cluster = hook.cluster
    monkeypatch.setattr(hook, 'cluster',
                        lambda r: clustered.append(r.epoch) or cluster(r))
    runner.train()
    # epoch 0 has no labels yet; 1 and 3 are off the interval; 2 is both
    assert clustered == [0, 2]
    log = open(runner.logger.log_file).read()
    assert 'epoch 2 clustering: not scheduled, the labels of epoch 1 kept' \
        in log
    assert 'epoch 4 clustering: not scheduled, the labels of epoch 3 kept' \
        in log


def old_associate(clusters, cmfp_k, associator, pairs):
    """The arithmetic of AssociationHook.associate before the label
    pipeline's components (CMFP(tr) inline), for comparison."""
    from mmvireid.evaluation.functional import cross_modality_propagation
    from mmvireid.models.task_modules import ClusterSet
    from mmvireid.models.utils import cluster_centroids, reassign_to_centroids
    from mmvireid.structures import pair_key
    modalities = clusters.modalities
    labels = clusters.labels.clone()
    index = {m: clusters.indices(m) for m in modalities}
    feats = {m: clusters.features[index[m]] for m in modalities}
    own = {m: labels[index[m]] for m in modalities}
    if cmfp_k is not None and all(len(i) for i in index.values()):
        first, second = modalities
        feats[first], feats[second] = cross_modality_propagation(
            feats[first], feats[second], k=cmfp_k)
        for m in modalities:
            kept = own[m] >= 0
            if kept.any():
                own[m][kept] = reassign_to_centroids(
                    feats[m][kept], cluster_centroids(feats[m], own[m]))
                labels[index[m]] = own[m]
    centroids = {m: cluster_centroids(feats[m], own[m]) for m in modalities}
    cross_labels, plans = {}, {}
    for source, destination in pairs:
        association = associator(
            ClusterSet(feats[source], own[source], centroids[source]),
            ClusterSet(feats[destination], own[destination],
                       centroids[destination]))
        cross = torch.full_like(labels, -1)
        cross[index[source]] = association.cross_labels
        cross_labels[pair_key(source, destination)] = cross
        if association.plan is not None:
            plans[pair_key(source, destination)] = association.plan
    return labels, cross_labels, plans, centroids


@pytest.mark.parametrize('cmfp_k', [None, 3])
@pytest.mark.parametrize('reference_stop', [False, True])
def test_associate_equals_the_inline_pipeline_it_replaces(
        cmfp_k, reference_stop):
    """Bit-identical labels, cross labels, plans and centroids; the
    features handed on stay the clustering's."""
    import torch.nn.functional as F

    from mmvireid.engine.hooks import AssociationHook
    from mmvireid.models.task_modules import OTAssociator
    from mmvireid.structures import PseudoLabels
    gen = torch.Generator().manual_seed(3)
    num = 60
    ids = (torch.rand(num, generator=gen) < 0.45).long()
    labels = torch.randint(0, 5, (num, ), generator=gen)
    labels[torch.rand(num, generator=gen) < 0.2] = -1
    clusters = PseudoLabels(
        modalities=('visible', 'infrared'),
        modality_ids=ids,
        labels=labels,
        features=F.normalize(torch.randn(num, 8, generator=gen), dim=1),
        pids=torch.randint(0, 5, (num, ), generator=gen))
    refiners = {} if cmfp_k is None else dict(
        cmfp=dict(type='CMFPRefiner', k=cmfp_k))
    hook = AssociationHook(
        refiners=refiners,
        associator=dict(type='OTAssociator', reference_stop=reference_stop))
    seconds = {}
    got = hook.associate(clusters, seconds=seconds)
    want = old_associate(clusters, cmfp_k,
                         OTAssociator(reference_stop=reference_stop),
                         hook.pairs_of(clusters.modalities))
    assert torch.equal(got.labels, want[0])
    assert got.cross_labels.keys() == want[1].keys()
    assert all(torch.equal(got.cross_labels[k], v) for k, v in want[1].items())
    assert all(torch.equal(got.plans[k], v) for k, v in want[2].items())
    assert all(torch.equal(got.centroids[k], v) for k, v in want[3].items())
    assert got.features is clusters.features
    assert got.labels is not clusters.labels
    ran = ['OTAssociator'] if cmfp_k is None else ['cmfp', 'OTAssociator']
    assert list(seconds) == ran
    if cmfp_k is not None:  # CMFP changed something
        assert not torch.equal(got.labels, clusters.labels)


def test_components_follow_their_schedules(caplog):
    """A refiner from epoch 1, an associator every other epoch: what runs
    when, what the consumers get, what the log says."""
    import logging
    from types import SimpleNamespace

    import torch.nn.functional as F
    from mmengine.logging import MessageHub

    from mmvireid.engine.hooks import AssociationHook
    from mmvireid.structures import PseudoLabels
    gen = torch.Generator().manual_seed(0)
    ids = torch.arange(40) % 2
    clusters = PseudoLabels(
        modalities=('visible', 'infrared'),
        modality_ids=ids,
        labels=torch.arange(40) // 2 % 4,
        features=F.normalize(torch.randn(40, 8, generator=gen), dim=1),
        pids=torch.arange(40) // 2 % 4)
    hook = AssociationHook(
        refiners=dict(
            cmfp=dict(type='CMFPRefiner', k=3, schedule=dict(start_epoch=1))),
        associator=dict(type='OTAssociator', schedule=dict(interval=2)))
    hub = MessageHub('components_follow_their_schedules')
    runner = SimpleNamespace(
        epoch=0,
        message_hub=hub,
        logger=logging.getLogger('components_follow_their_schedules'),
        model=SimpleNamespace(),
        train_dataloader=SimpleNamespace(sampler=None))
    ran = {}
    for epoch in range(4):
        runner.epoch = epoch
        hook.result = None
        hub.update_info('pseudo_labels', clusters, resumed=False)
        with caplog.at_level(logging.INFO):
            caplog.clear()
            hook.before_train_epoch(runner)
        ran[epoch] = (hook.result, caplog.text)
    # epoch 0: the associator only, on the clustering's labels
    result, text = ran[0]
    assert torch.equal(result.labels, clusters.labels)
    assert set(
        result.cross_labels) == {'infrared->visible', 'visible->infrared'}
    assert 'epoch 1 association: infrared->visible accuracy' in text
    assert '[OTAssociator ' in text and 'cmfp' not in text
    # epoch 1: CMFP only (no association): refined labels, no cross labels
    result, text = ran[1]
    assert not result.cross_labels and result.centroids
    assert 'epoch 2 association: no associator this epoch [cmfp ' in text
    assert 'OTAssociator' not in text
    # epoch 2: both, in order
    result, text = ran[2]
    assert result.cross_labels
    assert re.search(r'\[cmfp [0-9.]+ s, OTAssociator [0-9.]+ s\]', text)


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
            extract_dataloader=dict(),
            clusterer=dict(
                type='JaccardDBSCAN',
                eps=0.5,
                knn_cfg=dict(knn_backend='faiss')))


# ------------------------------------------------- degenerate pseudo-labels
# (issue #10, rows 3 and 5)
class _Listed:
    """A training set that lists its samples' modalities (nothing loads)."""

    def __init__(self, modalities, data_root='/data/my tree'):
        self.modalities, self.data_root = list(modalities), data_root

    def get_modalities(self):
        return np.array(self.modalities)

    def __len__(self):
        return len(self.modalities)


def _hook_over(names, clusterer=None):
    from types import SimpleNamespace

    from mmvireid.engine.hooks import ClusteringHook
    hook = ClusteringHook(
        extract_dataloader={}, clusterer=clusterer or TINY_CLUSTERER)
    hook.dataloader = SimpleNamespace(dataset=_Listed(names))
    return hook


@pytest.mark.parametrize('counts, clusterer, match', [
    ((40, 2), dict(TINY_CLUSTERER, k1=30),
     r"custom_hooks\.clustering\.clusterer\.k1=30 but the training set has "
     r"only 2 'infrared' images: the k-reciprocal .* one cluster"),
    ((1200, 900), dict(TINY_CLUSTERER, k1=1000),
     r"clusterer\.k1=1000 but the training set has only 900 'infrared'"),
    ((40, 30), dict(TINY_CLUSTERER, min_samples=40),
     r"clusterer\.min_samples=40 but the training set has only 30 'infrared'"
     r" images"),
    ((40, 30),
     dict(TINY_CLUSTERER, k1=5, k2=30, knn_cfg=dict(num_neighbours=30)),
     r"clusterer\.k2=30 but .* 30 'infrared'"),
    ((40, 1), TINY_CLUSTERER,
     r"training set has 1 'infrared' image: .* at least 2 images of each; .*"
     r"check the dataset and its data_root; eps / min_samples are not"),
])
def test_sizes_the_clusterer_cannot_use_are_refused(counts, clusterer, match):
    hook = _hook_over(['visible'] * counts[0] + ['infrared'] * counts[1],
                      clusterer)
    with pytest.raises(ValueError, match=match) as info:
        hook.check_sizes(('visible', 'infrared'))
    # the message names the training set and its size per modality
    assert f"_Listed, data_root='/data/my tree'; {counts[0]} visible, " \
        f'{counts[1]} infrared images' in str(info.value)


def test_a_declared_modality_without_images_is_refused():
    hook = _hook_over(['visible'] * 20, dict(type='GroundTruthClusterer'))
    with pytest.raises(
            ValueError,
            match=r"the training set \(_Listed, data_root='/data/my tree'\) "
            r"has no 'infrared' image, but it declares the modalities "
            r"\('visible', 'infrared'\).*eps / min_samples are not the cause"):
        hook.check_sizes(('visible', 'infrared'))
    # sizes that work pass (k1=11, min_samples=2 below 12 images each)
    _hook_over(['visible', 'infrared'] * 12).check_sizes(
        ('visible', 'infrared'))


def test_k1_above_the_data_fails_before_any_extraction(sysu_root, tmp_path):
    runner = make_runner(
        sysu_root,
        str(tmp_path / 'work'),
        max_epochs=1,
        clusterer=dict(TINY_CLUSTERER, k1=1000))
    with pytest.raises(
            ValueError,
            match=r"k1=1000 but the training set has only 24 'infrared' "
            r'images.*SYSUMM01, data_root='):
        runner.train()
    assert runner.model.seen == [] and not hasattr(runner.model, 'clusters')


@pytest.mark.parametrize('singles', [('visible', ), ('visible', 'infrared')])
def test_one_cluster_warns_and_no_two_clusters_anywhere_is_an_error(
        sysu_root, tmp_path, singles):
    """One cluster for a whole modality gives exactly-zero cluster-contrast
    terms: warned at every clustering; with no modality of two clusters
    or more the epoch would train nothing: an error before its first
    step."""
    from mmvireid.models.task_modules import BaseClusterer
    from mmvireid.registry import TASK_UTILS

    @TASK_UTILS.register_module(force=True)
    class CollapsingClusterer(BaseClusterer):
        """True ids, but ``singles`` in one cluster."""

        def __call__(self, pl):
            labels = pl.pids.clone()
            for modality in pl.modalities:
                index = pl.indices(modality)
                labels[index] = torch.unique(
                    labels[index], return_inverse=True)[1]
                if modality in singles:
                    labels[index] = 0
            return pl.with_fields(labels=labels)

    runner = make_runner(
        sysu_root,
        str(tmp_path / 'work'),
        mode='intra',
        max_epochs=2,
        clusterer=dict(type='CollapsingClusterer'),
        association=dict(start_epoch=5))
    if len(singles) == 2:
        with pytest.raises(
                ValueError,
                match=r'epoch 1 clustering gave no modality two clusters or '
                r'more \(visible: 1 cluster for 48 images, infrared: 1 '
                r'cluster for 24 images\): every cluster-contrast loss would '
                r'be exactly 0'):
            runner.train()
        assert runner.model.seen == []
        return
    runner.train()
    log = open(runner.logger.log_file).read()
    warned = re.findall(
        r'epoch (\d) clustering: visible: 1 cluster for 48 images: its '
        r'cluster-contrast loss terms are exactly 0 this epoch', log)
    assert warned == ['1', '2'] and 'infrared: 1 cluster' not in log
    assert len(runner.model.seen) == 2 * 3  # training went on
