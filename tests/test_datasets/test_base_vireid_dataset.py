"""BaseVIReIDDataset: the batch ids of a drawn index reach every view."""
import numpy as np
import torch
from torch.utils.data import DataLoader

from mmvireid.datasets import DrawnIndex, vireid_collate
from mmvireid.models import VIReIDDataPreprocessor
from mmvireid.models.utils import pair_rows
from mmvireid.registry import DATA_SAMPLERS, DATASETS
from mmvireid.structures.pseudo_labels import PseudoLabels, pair_key
from mmvireid.utils import register_all_modules

register_all_modules()

PACK = dict(type='PackVIReIDInputs')
# the SALCR training views: visible images get a plain and a
# channel-augmented view (mmpretrain.MultiView), infrared ones one view
VIEWS = dict(
    type='ModalityBranch',
    visible=[
        dict(
            type='mmpretrain.MultiView',
            num_views=[1, 1],
            transforms=[[dict(type='mmcv.RandomFlip', prob=0.5)],
                        [dict(type='ChannelExchange')]])
    ],
    infrared=[dict(type='mmcv.RandomFlip', prob=0.5)])


def build(sysu_root, pipeline):
    return DATASETS.build(
        dict(
            type='SYSUMM01',
            data_root=sysu_root,
            split='train',
            check_counts=False,
            pipeline=pipeline))


def test_a_drawn_index_gives_its_ids(sysu_root):
    data = build(sysu_root, [dict(type='LoadVIReIDImage'), PACK])
    sample = data[DrawnIndex(3, group_id=1, pair_id=5)]['data_samples']
    assert (sample.group_id, sample.pair_id) == (1, 5)
    # the sample is the one of the plain index; its sample_idx a plain int
    plain = data[3]['data_samples']
    assert type(sample.sample_idx) is int and sample.sample_idx == 3
    assert sample.img_path == plain.img_path
    # a plain index gives no ids
    assert 'group_id' not in plain and 'pair_id' not in plain
    info = data.prepare_data(DrawnIndex(-1, 0, -1))['data_samples']
    assert info.sample_idx == len(data) - 1 and info.pair_id == -1


def toy_pseudo_labels(data):
    """Clusters = true identities (IR clusters numbered in reverse), each
    cluster associated with the other modality's one of its identity."""
    pids = data.get_pids()
    infrared = data.get_modalities() == 'infrared'
    labels = np.where(infrared, 4 - pids, pids - 1)
    return PseudoLabels(
        modalities=('visible', 'infrared'),
        modality_ids=torch.from_numpy(infrared.astype(np.int64)),
        labels=torch.from_numpy(labels),
        cross_labels={
            pair_key('visible', 'infrared'):
            torch.from_numpy(np.where(~infrared, 4 - pids, -1)),
            pair_key('infrared', 'visible'):
            torch.from_numpy(np.where(infrared, pids - 1, -1)),
        })


def test_every_view_carries_the_ids_through_workers(sysu_root):
    data = build(sysu_root, [dict(type='LoadVIReIDImage'), VIEWS, PACK])
    # 12 visible / 6 infrared images per identity: K=8 draws some infrared
    # images twice
    sampler = DATA_SAMPLERS.build(
        dict(
            type='CrossModalClusterSampler',
            dataset=data,
            num_clusters=2,
            num_instances=8,
            iters_per_epoch=3,
            mode='paired',
            seed=0))
    sampler.set_pseudo_labels(toy_pseudo_labels(data))
    draws = list(sampler)
    loader = DataLoader(
        data,
        batch_size=sampler.batch_size,
        sampler=sampler,
        num_workers=2,
        collate_fn=vireid_collate)
    preprocessor = VIReIDDataPreprocessor()
    size = sampler.batch_size
    repeated = 0
    for b, batch in enumerate(loader):
        drawn = draws[b * size:(b + 1) * size]
        rows = preprocessor(batch)['data_samples']
        # 16 visible rows with a second view, 16 infrared rows
        assert len(rows) == size + size // 2
        view0, view1 = rows[:size], rows[size:]
        assert [(r.sample_idx, r.group_id, r.pair_id) for r in view0
                ] == [(int(i), i.group_id, i.pair_id) for i in drawn]
        # the channel-augmented views: those of the visible half, in order
        assert [(r.view, r.sample_idx, r.group_id, r.pair_id)
                for r in view1] == [(1, r.sample_idx, r.group_id, r.pair_id)
                                    for r in view0[:size // 2]]
        repeated += size - len({int(i) for i in drawn})
        # pairing by id gives the positional pairs
        pairs = pair_rows(rows, ('visible', 'infrared'))
        half = size // 2
        assert pairs.tolist() == [[j, size + j, half + j] for j in range(half)]
    assert repeated > 0
