"""tools/analysis_tools/benchmark_throughput.py on a tiny CPU setting."""
import os.path as osp

import pytest
from tool_scripts import ROOT, load_tool

bench = load_tool('analysis_tools/benchmark_throughput.py')


def test_paired_batch_pairs_identities_and_adds_channel_augmented_views():
    dataset = bench.SyntheticImages(40, 20, 5, (16, 8))
    batch = bench.paired_batch(
        dataset, num_clusters=3, num_instances=2, step=0)
    samples = batch['data_samples']
    assert len(samples) == len(batch['inputs']) == 3 * 6
    vis, ir, ca = samples[:6], samples[6:12], samples[12:]
    assert all(s.modality == 'visible' and s.view == 0 for s in vis)
    assert all(s.modality == 'infrared' for s in ir)
    assert [s.pid for s in vis] == [s.pid for s in ir]
    assert [s.sample_idx for s in ca] == [s.sample_idx for s in vis]
    assert all(s.view == 1 for s in ca)
    assert len({s.pid for s in vis}) == 3


def test_smoke_config_extraction_and_salcr_training_step(tmp_path):
    """Every image is extracted and the training step computes all SALCR
    loss terms (DAGL, FGSAL, GPCR) with the installed memories."""
    results = bench.main([
        osp.join(ROOT, 'tests', 'data', 'configs', 'synthvi_smoke.py'),
        '--device', 'cpu', '--precisions', 'fp32', '--num-visible', '48',
        '--num-infrared', '24', '--num-ids', '6', '--num-workers', '0',
        '--train-iters', '1', '--warmup', '1', '--out',
        str(tmp_path / 'out.json')
    ])
    run = results['runs']['fp32']
    assert run['extraction']['images'] == 72
    assert run['training']['batch_images'] == 3 * 8  # 2 ids x 4, + CA
    terms = run['training']['loss_terms']
    for term in ('loss_cross_visible', 'loss_part_infrared',
                 'loss_gpcr_global', 'loss_gpcr_part'):
        assert term in terms, terms
    assert run['epoch_seconds'] > run['extraction']['seconds']
    assert osp.isfile(tmp_path / 'out.json')


def test_amp_needs_cuda():
    with pytest.raises(SystemExit, match='CUDA'):
        bench.main(['tests/data/configs/synthvi_smoke.py', '--device', 'cpu'])
