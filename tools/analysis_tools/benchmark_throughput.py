"""GPU throughput of a config's model: feature extraction and training steps.

Measures, side by side in one run, full precision (fp32) against mixed
precision (AMP: mmengine's ``autocast`` for extraction, ``AmpOptimWrapper``
for training; float16 on CUDA):

- **extraction**: :func:`mmvireid.engine.feature_extraction.extract_features`
  (what ``ClusteringHook`` runs at every epoch: flip-averaged eval-mode
  features, plus part features when the config's ``ClusteringHook`` asks
  for them) over a synthetic training set of SYSU-MM01's size (22 258
  visible + 11 909 infrared images) at the config's image size. Images are
  uint8 tensors already at the input size, drawn from a pool of random
  images, so JPEG decoding and resizing are left out: the figure is what
  the model and the data preprocessor sustain.
- **training**: ``model.train_step`` on a stage-2 (paired) batch of the
  config's composition (``num_clusters`` x ``num_instances`` visible images
  with their channel-augmented views + as many infrared images) with the
  memories of a SYSU-sized training set in place (random unit features,
  ``--num-ids`` pseudo-identities, associations = the same ids), so every
  SALCR loss (DAGL, FGSAL, GPCR) is computed.
- **epoch time** = the config's ``iters_per_epoch`` x seconds per
  training step + one extraction of the whole training set. Clustering and
  association (CPU work, see ``benchmark_clustering.py``) and data loading
  are not in it.

The backbone starts from random weights (speed does not depend on them;
``init_cfg`` is dropped so that no download is attempted). Results go to
stdout as a table and to ``--out`` as JSON.

    # on a GPU (the figures in docs/benchmarks.md)
    python tools/analysis_tools/benchmark_throughput.py configs/salcr/sysu.py
    # tiny CPU check of the plumbing (fp32 only)
    python tools/analysis_tools/benchmark_throughput.py \
        tests/data/configs/synthvi_smoke.py --device cpu --precisions fp32 \
        --num-visible 64 --num-infrared 32 --num-ids 8 --train-iters 2 \
        --warmup 1
"""
import argparse
import json
import time
from typing import Dict, List, Optional, Tuple

import numpy as np
import torch
from mmengine.config import Config
from mmengine.dataset import pseudo_collate
from mmengine.optim import AmpOptimWrapper, OptimWrapper
from mmengine.runner.amp import autocast
from torch.utils.data import DataLoader, Dataset

from mmvireid.engine.feature_extraction import extract_features
from mmvireid.registry import MODELS
from mmvireid.structures import (MODALITIES, PseudoLabels, VIReIDDataSample,
                                 pair_key)
from mmvireid.utils import custom_hooks_as_list, register_all_modules

SYSU_TRAIN = dict(visible=22258, infrared=11909, ids=395)
POOL_SIZE = 64
VISIBLE_CAMS, INFRARED_CAMS = (1, 2, 4, 5), (3, 6)


class SyntheticImages(Dataset):
    """``num_visible`` + ``num_infrared`` uint8 images of shape ``(3, H, W)``
    drawn from a seeded pool of random images, with SYSU-like metadata
    (visible cameras 1/2/4/5, infrared 3/6; ``num_ids`` identities)."""

    def __init__(self, num_visible: int, num_infrared: int, num_ids: int,
                 size_hw: Tuple[int, int]) -> None:
        generator = torch.Generator().manual_seed(0)
        self.pool = torch.randint(
            0,
            256, (POOL_SIZE, 3, *size_hw),
            generator=generator,
            dtype=torch.uint8)
        self.num_visible = num_visible
        self.size = num_visible + num_infrared
        # the declared modalities, as a real dataset's metainfo has them
        self.metainfo = dict(modalities=MODALITIES)
        self.pids = np.concatenate([
            np.arange(num_visible) % num_ids,
            np.arange(num_infrared) % num_ids
        ])

    def __len__(self) -> int:
        return self.size

    def modality(self, index: int) -> str:
        return 'visible' if index < self.num_visible else 'infrared'

    def sample(self, index: int, view: int = 0) -> VIReIDDataSample:
        modality = self.modality(index)
        cams = VISIBLE_CAMS if modality == 'visible' else INFRARED_CAMS
        camid = cams[index % len(cams)]
        return VIReIDDataSample(
            metainfo=dict(sample_idx=index, view=view)).set_identity(
                int(self.pids[index]), camid, modality)

    def __getitem__(self, index: int) -> dict:
        return dict(
            inputs=self.pool[index % POOL_SIZE],
            data_samples=self.sample(index))


def build_model(cfg: Config, device: str) -> torch.nn.Module:
    """The config's model with random weights (no ``init_cfg`` loading)."""
    model_cfg = cfg.model.copy()
    backbone = model_cfg.backbone
    while backbone is not None:
        backbone.pop('init_cfg', None)
        backbone = backbone.get('backbone')
    model = MODELS.build(model_cfg)
    return model.to(device)


def clustering_hook_cfg(cfg: Config) -> dict:
    """The config's ``ClusteringHook`` entry (or an empty dict)."""
    for hook in custom_hooks_as_list(cfg.get('custom_hooks')) or []:
        if hook.get('type') == 'ClusteringHook':
            return hook
    return {}


def install_memories(model: torch.nn.Module, dataset: SyntheticImages,
                     with_parts: bool, device: str) -> None:
    """Give the model's memories a SYSU-sized clustering and association
    (pseudo-labels = the synthetic ids, random unit features)."""
    generator = torch.Generator().manual_seed(1)
    num = len(dataset)
    feat_dim = model.neck.in_channels  # GeM + BNNeck keep the width
    feats = torch.nn.functional.normalize(
        torch.randn(num, feat_dim, generator=generator), dim=1)
    labels = torch.from_numpy(dataset.pids.astype(np.int64))
    modality_ids = (torch.arange(num) >= dataset.num_visible).long()
    parts = None
    if with_parts:
        head = model.head
        num_parts = head.part_head.num_parts
        part_dim = head.part_head.in_channels
        parts = torch.nn.functional.normalize(
            torch.randn(num, num_parts, part_dim, generator=generator),
            dim=2).to(device)
    clusters = PseudoLabels(
        modalities=dataset.metainfo['modalities'],
        modality_ids=modality_ids,
        labels=labels,
        pids=labels,
        features=feats.to(device),
        part_features=parts)
    first, second = clusters.modalities
    model.set_pseudo_labels(clusters)
    # each sample associated with the other modality's cluster of its id
    model.set_pseudo_labels(
        clusters.with_fields(
            cross_labels={
                pair_key(first, second): torch.where(modality_ids == 0, labels,
                                                     -1),
                pair_key(second, first): torch.where(modality_ids == 1, labels,
                                                     -1)
            }))


def paired_batch(dataset: SyntheticImages, num_clusters: int,
                 num_instances: int, step: int) -> dict:
    """A stage-2 batch: visible view 0 of ``num_clusters`` x
    ``num_instances`` samples, the infrared samples of the same ids at the
    same positions, then the visible samples' channel-augmented views."""
    rng = np.random.default_rng(step)
    ids = rng.choice(
        int(dataset.pids.max()) + 1, size=num_clusters, replace=False)
    visible, infrared = [], []
    for pid in ids:
        vis_pool = np.flatnonzero(dataset.pids[:dataset.num_visible] == pid)
        ir_pool = dataset.num_visible + np.flatnonzero(
            dataset.pids[dataset.num_visible:] == pid)
        visible.extend(rng.choice(vis_pool, num_instances))
        infrared.extend(rng.choice(ir_pool, num_instances))
    rows = [(i, 0) for i in visible + infrared] + [(i, 1) for i in visible]
    return dict(
        inputs=[dataset.pool[i % POOL_SIZE] for i, _ in rows],
        data_samples=[dataset.sample(i, view) for i, view in rows])


def synchronize(device: str) -> None:
    if device.startswith('cuda'):
        torch.cuda.synchronize()


def time_extraction(model: torch.nn.Module, loader: DataLoader, amp: bool,
                    device: str) -> Dict[str, float]:
    """Seconds and images/s of one extraction over ``loader``'s dataset
    (of the features the label pipeline extracts, ``model.label_features``)."""
    # warm-up on the first batch (cuDNN autotuning, allocator)
    model.eval()
    features = model.label_features
    with torch.no_grad():
        first = next(iter(loader))
        with autocast(enabled=amp):
            model.extract_step(first, features)
    synchronize(device)
    start = time.perf_counter()
    out = extract_features(
        model, loader, show_progress=False, amp=amp, features=features)
    synchronize(device)
    seconds = time.perf_counter() - start
    num = len(out['features'])
    if not torch.isfinite(out['features']).all():
        raise RuntimeError('non-finite features in the extraction')
    return dict(seconds=seconds, images_per_s=num / seconds, images=num)


def time_training(model: torch.nn.Module, dataset: SyntheticImages,
                  cfg: Config, amp: bool, iters: int, warmup: int,
                  device: str) -> Dict[str, float]:
    """Seconds per ``train_step`` and images/s on paired batches."""
    sampler = cfg.train_dataloader.sampler
    optimizer = torch.optim.Adam(model.parameters(), lr=3.5e-4)
    wrapper = AmpOptimWrapper(optimizer=optimizer) if amp else OptimWrapper(
        optimizer=optimizer)
    model.train()
    images = None
    losses = None
    for step in range(warmup + iters):
        if step == warmup:
            synchronize(device)
            start = time.perf_counter()
        data = paired_batch(dataset, sampler.num_clusters,
                            sampler.num_instances, step)
        images = len(data['inputs'])
        losses = model.train_step(data, wrapper)
    synchronize(device)
    seconds = (time.perf_counter() - start) / iters
    total = float(torch.as_tensor(losses['loss']).detach())
    if not np.isfinite(total):
        raise RuntimeError(f'non-finite training loss {total}')
    return dict(
        seconds_per_iter=seconds,
        images_per_s=images / seconds,
        batch_images=images,
        loss_terms=sorted(k for k in losses if k != 'loss'))


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('config', help='model/data config (e.g. sysu.py)')
    parser.add_argument('--device', default='cuda')
    parser.add_argument(
        '--precisions',
        nargs='+',
        default=['fp32', 'amp'],
        choices=['fp32', 'amp'])
    parser.add_argument(
        '--num-visible', type=int, default=SYSU_TRAIN['visible'])
    parser.add_argument(
        '--num-infrared', type=int, default=SYSU_TRAIN['infrared'])
    parser.add_argument('--num-ids', type=int, default=SYSU_TRAIN['ids'])
    parser.add_argument('--num-workers', type=int, default=8)
    parser.add_argument('--train-iters', type=int, default=20)
    parser.add_argument('--warmup', type=int, default=5)
    parser.add_argument('--out', help='write the results as JSON here')
    return parser.parse_args(argv)


def main(argv: Optional[List[str]] = None) -> dict:
    """Run the benchmark; returns the results (also printed)."""
    args = parse_args(argv)
    if 'amp' in args.precisions and not args.device.startswith('cuda'):
        raise SystemExit('--precisions amp needs a CUDA --device '
                         '(AmpOptimWrapper trains on GPUs only)')
    register_all_modules()
    cfg = Config.fromfile(args.config)
    torch.backends.cudnn.benchmark = True
    width, height = cfg.img_scale
    dataset = SyntheticImages(args.num_visible, args.num_infrared,
                              args.num_ids, (height, width))
    hook = clustering_hook_cfg(cfg)
    extract_cfg = hook.get('extract_dataloader', {})
    loader = DataLoader(
        dataset,
        batch_size=extract_cfg.get('batch_size', 128),
        num_workers=args.num_workers,
        collate_fn=pseudo_collate,
        pin_memory=args.device.startswith('cuda'))
    iters_per_epoch = cfg.train_dataloader.sampler.iters_per_epoch
    results = dict(
        config=args.config,
        device=torch.cuda.get_device_name()
        if args.device.startswith('cuda') else 'cpu',
        torch=torch.__version__,
        image_hw=[height, width],
        train_images=len(dataset),
        iters_per_epoch=iters_per_epoch,
        runs={})
    for precision in args.precisions:
        torch.manual_seed(0)
        model = build_model(cfg, args.device)
        with_parts = 'parts' in model.label_features
        install_memories(model, dataset, with_parts, args.device)
        amp = precision == 'amp'
        if args.device.startswith('cuda'):
            torch.cuda.reset_peak_memory_stats()
        extraction = time_extraction(model, loader, amp, args.device)
        training = time_training(model, dataset, cfg, amp, args.train_iters,
                                 args.warmup, args.device)
        run = dict(
            extraction=extraction,
            training=training,
            epoch_seconds=iters_per_epoch * training['seconds_per_iter'] +
            extraction['seconds'])
        if args.device.startswith('cuda'):
            run['peak_gib'] = torch.cuda.max_memory_allocated() / 2**30
        results['runs'][precision] = run
        del model
        if args.device.startswith('cuda'):
            torch.cuda.empty_cache()
    print(format_table(results))
    if args.out:
        with open(args.out, 'w') as f:
            json.dump(results, f, indent=2)
    return results


def format_table(results: dict) -> str:
    """A markdown table of the runs."""
    lines = [
        f"{results['config']} on {results['device']} (torch "
        f"{results['torch']}), {results['image_hw'][0]}x"
        f"{results['image_hw'][1]}, {results['train_images']} training "
        f"images, {results['iters_per_epoch']} iterations per epoch", '',
        '| precision | extraction images/s | extraction s | train images/s '
        '| s / iteration (batch) | epoch s | peak GiB |',
        '| --- | --- | --- | --- | --- | --- | --- |'
    ]
    for precision, run in results['runs'].items():
        ext, train = run['extraction'], run['training']
        lines.append(
            f"| {precision} | {ext['images_per_s']:.0f} | "
            f"{ext['seconds']:.1f} | {train['images_per_s']:.0f} | "
            f"{train['seconds_per_iter']:.3f} ({train['batch_images']}) | "
            f"{run['epoch_seconds']:.0f} | "
            f"{run.get('peak_gib', float('nan')):.1f} |")
    return '\n'.join(lines)


if __name__ == '__main__':
    main()
