"""Tests of the SynthVI generator (tiny configs, CPU, a few seconds)."""
import fcntl
import json
import os
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from mmvireid.datasets.generators import (
    MANIFEST_NAME, MAX_IR_LUMINANCE_COUPLING, SYNTHVI_GENERATOR_VERSION,
    SYNTHVI_PRESETS, SynthVIConfig, ensure_synthvi, generate_synthvi,
    load_synthvi_manifest, render_sample, synthvi_image_plan)
from mmvireid.datasets.generators import synthvi_generator as gen_module

REPO_ROOT = Path(__file__).resolve().parents[3]
TINY = dict(
    num_train_ids=3,
    num_val_ids=1,
    num_test_ids=3,
    images_per_visible_cam=2,
    images_per_ir_cam=2,
    height=64,
    width=32,
    camera_dropout=0.2)


def _images(root: Path) -> list[Path]:
    return sorted(root.glob('cam*/*/*.jpg'))


def _read_ids(path: Path) -> list[int]:
    lines = path.read_text().splitlines()
    assert len(lines) == 1
    return [int(tok) for tok in lines[0].split(',')]


@pytest.fixture(scope='module')
def tiny_tree(tmp_path_factory):
    root = tmp_path_factory.mktemp('tiny') / 'synthvi'
    manifest = generate_synthvi(root, show_progress=False, **TINY)
    return root, manifest


def test_layout_and_counts_match_manifest(tiny_tree):
    root, manifest = tiny_tree
    assert manifest == load_synthvi_manifest(root)
    assert manifest['generator_version'] == SYNTHVI_GENERATOR_VERSION
    assert manifest['params'] == SynthVIConfig(**TINY).to_dict()
    train = _read_ids(root / 'exp' / 'train_id.txt')
    val = _read_ids(root / 'exp' / 'val_id.txt')
    test = _read_ids(root / 'exp' / 'test_id.txt')
    assert (len(train), len(val), len(test)) == (3, 1, 3)
    assert not (set(train) | set(val)) & set(test)
    assert not set(train) & set(val)

    counts = manifest['counts']
    per_cam = {f'cam{c}': 0 for c in range(1, 7)}
    present = {}
    for path in _images(root):
        cam, pid = path.parts[-3], path.parts[-2]
        assert len(pid) == 4 and len(path.stem) == 4
        per_cam[cam] += 1
        present.setdefault(int(pid), set()).add(int(cam[3:]))
    assert per_cam == counts['cameras']
    assert sum(per_cam.values()) == counts['images']['total']
    assert set(present) == set(train) | set(val) | set(test)
    for pid, cams in present.items():
        assert cams & {1, 2, 4, 5} and cams & {3, 6}
    for pid in test:
        assert present[pid] & {1, 2}
        assert 3 not in present[pid] or 1 in present[pid]
    ir_test = sum(
        per_cam_count
        for per_cam_count in (len(list(root.glob(f'cam{c}/{p:04d}/*.jpg')))
                              for c in (3, 6) for p in test))
    assert counts['test']['query'] == ir_test
    # image numbering is 0001..N per (camera, id)
    for folder in root.glob('cam*/*'):
        names = sorted(p.name for p in folder.iterdir())
        assert names == [f'{i:04d}.jpg' for i in range(1, len(names) + 1)]


def test_images_load_and_ir_has_no_hue(tiny_tree):
    root, _ = tiny_tree
    vis_spread = []
    for path in _images(root):
        img = cv2.imread(str(path))
        assert img.shape == (64, 32, 3) and img.dtype == np.uint8
        if path.parts[-3] in ('cam3', 'cam6'):
            assert (img[..., 0] == img[..., 1]).all()
            assert (img[..., 0] == img[..., 2]).all()
        else:
            spread = img.astype(int).max(2) - img.astype(int).min(2)
            vis_spread.append(spread.mean())
    assert np.mean(vis_spread) > 10  # visible images are coloured


def test_plan_keeps_protocol_well_defined():
    cfg = SynthVIConfig(num_train_ids=50, num_test_ids=300, camera_dropout=0.6)
    plan = synthvi_image_plan(cfg)
    test = range(51 + cfg.num_val_ids, 51 + cfg.num_val_ids + 300)
    for pid, counts in plan.items():
        assert counts[[0, 1, 3, 4]].sum() > 0 and counts[[2, 5]].sum() > 0
    for pid in test:  # indoor gallery; cam3 queries need cam1 (no cam2)
        counts = plan[pid]
        assert counts[0] or counts[1]
        assert not counts[2] or counts[0]
    assert sum((c == 0).sum() for c in plan.values()) > 0  # some missing


def test_same_seed_byte_identical_and_seed_sensitive(tmp_path, tiny_tree):
    root_a, _ = tiny_tree
    root_b = tmp_path / 'b'
    generate_synthvi(root_b, show_progress=False, num_workers=2, **TINY)
    files_a = [p.relative_to(root_a) for p in root_a.rglob('*')]
    files_b = [p.relative_to(root_b) for p in root_b.rglob('*')]
    assert sorted(files_a) == sorted(files_b)
    for rel in files_a:
        if (root_a / rel).is_file():
            assert (root_a / rel).read_bytes() == (root_b / rel).read_bytes()

    root_c = tmp_path / 'c'
    generate_synthvi(root_c, show_progress=False, seed=1, **TINY)
    common = [
        p.relative_to(root_a) for p in _images(root_a)
        if (root_c / p.relative_to(root_a)).exists()
    ]
    assert common
    differ = [(root_a / r).read_bytes() != (root_c / r).read_bytes()
              for r in common]
    assert all(differ)


def test_image_independent_of_generation_order():
    cfg = SynthVIConfig(**TINY)
    first = render_sample(cfg, 2, 3, 2)
    for pid in (5, 1, 4):
        render_sample(cfg, pid, 1, 1)
    assert np.array_equal(first, render_sample(cfg, 2, 3, 2))
    # split sizes do not change an identity's images
    other = SynthVIConfig(**{**TINY, 'num_train_ids': 7})
    assert np.array_equal(first, render_sample(other, 2, 3, 2))


def test_cache_hit_does_not_rewrite(tiny_tree, monkeypatch):
    root, manifest = tiny_tree
    watched = [root / MANIFEST_NAME, _images(root)[0]]
    before = [p.stat().st_mtime_ns for p in watched]

    def fail(*args, **kwargs):
        raise AssertionError('cache hit must not regenerate')

    monkeypatch.setattr(gen_module, 'generate_synthvi', fail)
    assert ensure_synthvi(root, **TINY) == manifest
    assert ensure_synthvi(root, SynthVIConfig(**TINY)) == manifest
    assert [p.stat().st_mtime_ns for p in watched] == before


def test_differing_params_raise_and_keep_tree(tiny_tree):
    root, _ = tiny_tree
    before = sorted(root.rglob('*'))
    with pytest.raises(ValueError) as info:
        ensure_synthvi(root, **{**TINY, 'seed': 3, 'num_test_ids': 4})
    msg = str(info.value)
    assert str(root) in msg and 'seed: 0 -> 3' in msg
    assert 'num_test_ids: 3 -> 4' in msg and 'Delete' in msg
    assert sorted(root.rglob('*')) == before
    with pytest.raises(FileExistsError):
        generate_synthvi(root, show_progress=False, **TINY)


def test_foreign_folder_is_never_touched(tmp_path):
    root = tmp_path / 'mine'
    root.mkdir()
    (root / 'thesis.txt').write_text('precious')
    for call in (lambda: ensure_synthvi(root, **TINY),
                 lambda: generate_synthvi(root, overwrite=True, **TINY)):
        with pytest.raises(ValueError, match='not a SynthVI tree') as info:
            call()
        assert str(root) in str(info.value)
    assert os.listdir(root) == ['thesis.txt']
    # an empty existing folder is fine
    empty = tmp_path / 'empty'
    empty.mkdir()
    ensure_synthvi(empty, show_progress=False, **TINY)
    assert (empty / MANIFEST_NAME).is_file()


def test_overwrite_replaces_synthvi_tree(tmp_path):
    root = tmp_path / 'tree'
    generate_synthvi(root, show_progress=False, **TINY)
    manifest = generate_synthvi(
        root, show_progress=False, overwrite=True, **{
            **TINY, 'seed': 5
        })
    assert load_synthvi_manifest(root)['params']['seed'] == 5 == \
        manifest['params']['seed']
    assert os.listdir(tmp_path) == ['tree']


def test_atomic_write_leaves_no_temp(tmp_path, monkeypatch):
    root = tmp_path / 'ok'
    ensure_synthvi(root, show_progress=True, **TINY)
    assert os.listdir(tmp_path) == ['ok']

    calls = []

    def broken(*args, **kwargs):
        calls.append(1)
        if len(calls) > 5:
            raise RuntimeError('disk full')
        return render_sample(*args, **kwargs)

    monkeypatch.setattr(gen_module, 'render_sample', broken)
    with pytest.raises(RuntimeError, match='disk full'):
        generate_synthvi(tmp_path / 'broken', show_progress=False, **TINY)
    assert os.listdir(tmp_path) == ['ok']


def test_concurrent_finisher_wins(tmp_path, monkeypatch):
    root = tmp_path / 'race'
    original = gen_module._write_images
    state = {'raced': False}

    def racing(*args, **kwargs):
        original(*args, **kwargs)
        if not state['raced']:  # another process finishes first
            state['raced'] = True
            generate_synthvi(root, show_progress=False, **TINY)

    monkeypatch.setattr(gen_module, '_write_images', racing)
    manifest = generate_synthvi(root, show_progress=False, **TINY)
    assert manifest == load_synthvi_manifest(root)
    assert os.listdir(tmp_path) == ['race']


def test_ir_is_not_a_function_of_visible_luminance():
    cfg = SynthVIConfig(**{**TINY, 'height': 128, 'width': 64})
    c = cfg.ir_luminance_coupling
    assert 1 - c >= 0.15 and MAX_IR_LUMINANCE_COUPLING == 0.85
    thermal_resid, ir_resid = [], []
    for pid in range(1, 9):
        out = render_sample(cfg, pid, 3, 1, return_intermediates=True)
        lum, thermal = out['luminance'].ravel(), out['thermal'].ravel()
        # the same person/pose in both modalities
        assert out['visible'].shape == (128, 64, 3)
        assert np.array_equal(out['image'][..., 0], out['infrared'])
        np.testing.assert_allclose(
            out['luminance'],
            out['visible_nocast'] @ np.array([0.299, 0.587, 0.114],
                                             np.float32),
            atol=1e-5)
        np.testing.assert_allclose(
            out['ir_clean'],
            c * out['luminance'] + (1 - c) * out['thermal'],
            atol=1e-6)
        design = np.stack([lum, np.ones_like(lum)], 1)
        for target, store in ((thermal, thermal_resid),
                              (out['infrared'].ravel() / 255.0, ir_resid)):
            coef = np.linalg.lstsq(design, target, rcond=None)[0]
            store.append(np.var(target - design @ coef) / np.var(target))
    # the thermal term carries information luminance does not determine ...
    assert np.mean(thermal_resid) > 0.5
    # ... and it survives into the written IR images
    assert np.mean(ir_resid) >= 0.15


def test_coupling_validation_and_presets():
    with pytest.raises(ValueError, match='ir_luminance_coupling'):
        SynthVIConfig(ir_luminance_coupling=0.9)
    with pytest.raises(ValueError, match='ir_luminance_coupling'):
        SynthVIConfig(ir_luminance_coupling=-0.1)
    SynthVIConfig(ir_luminance_coupling=0.85)
    hard, default = SYNTHVI_PRESETS['hard'], SYNTHVI_PRESETS['default']
    assert hard.ir_luminance_coupling < default.ir_luminance_coupling
    assert hard.ir_noise_std > default.ir_noise_std
    assert hard.max_clutter > default.max_clutter
    with pytest.raises(ValueError, match='Unknown SynthVI parameter'):
        ensure_synthvi('/nonexistent/never', colour_count=3)
    with pytest.raises(ValueError, match='num_val_ids'):
        SynthVIConfig(num_val_ids=0)


def test_cli_runs_on_tiny_config(tmp_path):
    out = tmp_path / 'cli'
    args = [
        sys.executable, 'tools/dataset_converters/generate_synthvi.py',
        str(out), '--quiet', '--preset', 'hard', '--seed', '2'
    ]
    for key, value in TINY.items():
        args += ['--' + key.replace('_', '-'), str(value)]
    env = dict(os.environ, PYTHONPATH=str(REPO_ROOT))
    proc = subprocess.run(
        args,
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120)
    assert proc.returncode == 0, proc.stderr
    manifest = load_synthvi_manifest(out)
    assert manifest['params']['seed'] == 2
    assert manifest['params']['ir_luminance_coupling'] == \
        SYNTHVI_PRESETS['hard'].ir_luminance_coupling
    total = manifest['counts']['images']['total']
    assert f'images: {total}' in proc.stdout
    assert len(_images(out)) == total
    printed = json.loads(proc.stdout.split('counts: ', 1)[1])
    assert printed == manifest['counts']


# another generator process of <dir>/tree: holds its lock and writes its
# temp folder, named as generate_synthvi names them
HOLD_LOCK = """
import fcntl, os, sys, time
stem = os.path.join(sys.argv[1], '.tree.synthvi-%s-' + str(os.getpid()))
fd = os.open(stem % 'lock' + '-0badc0de', os.O_CREAT | os.O_RDWR)
fcntl.flock(fd, fcntl.LOCK_EX)
os.mkdir(stem % 'tmp' + '-0badc0de')
print('writing', flush=True)
time.sleep(120)
"""


def _dead_pid() -> int:
    gone = subprocess.Popen([sys.executable, '-c', ''])
    gone.wait()
    return gone.pid


def test_a_generation_holds_its_lock_while_writing(tmp_path, monkeypatch):
    root, seen = tmp_path / 'tree', []
    original = gen_module._write_images

    def writing(cfg, plan, out_dir, *args):
        lock = Path(str(out_dir).replace('.synthvi-tmp-', '.synthvi-lock-'))
        fd = os.open(lock, os.O_RDWR)
        try:  # a second open file (as another process has) cannot lock it
            with pytest.raises(BlockingIOError):
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        finally:
            os.close(fd)
        # nor does a cleaner running meanwhile touch it
        assert gen_module.clean_stale_synthvi_temp(root) == []
        seen.append(out_dir.name)
        original(cfg, plan, out_dir, *args)

    monkeypatch.setattr(gen_module, '_write_images', writing)
    generate_synthvi(root, show_progress=False, **TINY)
    assert seen[0].startswith(f'.tree.synthvi-tmp-{os.getpid()}-')
    assert os.listdir(tmp_path) == ['tree']  # lock file removed too


def test_only_temp_folders_of_dead_generations_are_removed(
        tmp_path, monkeypatch):
    root = tmp_path / 'tree'
    child = subprocess.Popen([sys.executable, '-c', HOLD_LOCK,
                              str(tmp_path)],
                             stdout=subprocess.PIPE,
                             text=True)
    try:
        assert child.stdout.readline() == 'writing\n'
        live = tmp_path / f'.tree.synthvi-tmp-{child.pid}-0badc0de'
        # legacy folders (no lock file) named by their pid, and bystanders
        dead = _dead_pid()
        legacy_dead = tmp_path / f'.tree.synthvi-tmp-{dead}-0123abcd'
        legacy_live = tmp_path / '.tree.synthvi-tmp-1-0123abcd'
        others = [
            tmp_path / '.tree.synthvi-tmp-x', tmp_path / 'keep',
            tmp_path / f'.other.synthvi-tmp-{dead}-0123abcd'
        ]
        for folder in [legacy_dead, legacy_live] + others:
            folder.mkdir()
        logged = []
        monkeypatch.setattr(gen_module, 'print_log',
                            lambda msg, **kw: logged.append(msg))
        # the other process is writing `live` right now: kept
        assert gen_module.clean_stale_synthvi_temp(root) == [legacy_dead]
        assert live.is_dir() and legacy_live.is_dir()
        assert logged == [
            f'SynthVI: removed {str(legacy_dead)!r}, left by an interrupted '
            f'generation (process {dead} is gone)'
        ]
        child.kill()  # kill -9 in the middle of its generation
        child.wait()
        # the next run removes its folder and lock, then generates the tree
        ensure_synthvi(root, show_progress=False, **TINY)
    finally:
        child.kill()
        child.wait()
        child.stdout.close()
    assert not live.exists() and str(live) in logged[1]
    assert sorted(os.listdir(tmp_path)) == sorted(['tree', legacy_live.name] +
                                                  [p.name for p in others])


def test_a_stale_temp_is_cleaned_when_the_tree_exists(tiny_tree, monkeypatch):
    root, manifest = tiny_tree
    tag = f'{_dead_pid()}-89abcdef'
    stale = root.parent / f'.{root.name}.synthvi-old-{tag}'
    (stale / 'cam1').mkdir(parents=True)
    lock = root.parent / f'.{root.name}.synthvi-lock-{tag}'
    lock.write_text('')  # a lock file nobody holds
    mine = root.parent / f'.{root.name}.synthvi-tmp-{os.getpid()}-89abcdef'
    mine.mkdir()  # this process's own: never removed
    assert ensure_synthvi(root, **TINY) == manifest
    assert not stale.exists() and not lock.exists() and mine.is_dir()
    mine.rmdir()
