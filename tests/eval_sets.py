"""Random evaluation sets in the layout of a 'test' split."""
import numpy as np
import torch


def make_eval_set(seed=0, num_query=30, num_pool=40, trials=3):
    """Random features with identity structure, in the 'test' split layout."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(8, 16))
    q_pid = rng.integers(0, 8, num_query)
    g_pid = np.concatenate([np.arange(8), rng.integers(0, 8, num_pool - 8)])
    pids = np.concatenate([q_pid, g_pid])
    feats = centres[pids] + 0.9 * rng.normal(size=(len(pids), 16))
    cams = np.concatenate([rng.choice([3, 6], num_query),
                           rng.choice([1, 2, 4, 5], num_pool)])
    pool = np.arange(num_query, num_query + num_pool)
    gallery_trials = [list(rng.permutation(pool)[:25]) for _ in range(trials)]
    meta = dict(
        protocol='sysu',
        eval_prefix='toy-all',
        query_indices=list(range(num_query)),
        gallery_trials=[[int(i) for i in t] for t in gallery_trials])
    samples = [
        dict(pred_feature=torch.tensor(f, dtype=torch.float32), pid=int(p),
             camid=int(c), sample_idx=i)
        for i, (f, p, c) in enumerate(zip(feats, pids, cams))
    ]
    return meta, samples, feats, pids, cams
