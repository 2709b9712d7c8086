"""Retrieval metric of visible-infrared ReID (CMC, mAP, mINP over trials)."""
from typing import Dict, List, Optional, Sequence, Tuple, Union

import numpy as np
import torch
import torch.nn.functional as F
from mmengine.evaluator import BaseMetric
from mmengine.logging import print_log

from mmvireid.registry import METRICS
from ..functional import (CMFPTrials, eval_regdb, eval_sysu,
                          k_reciprocal_rerank, verification_roc)

RANKS = (1, 5, 10, 20)
# variant -> key prefix within the metric's prefix, in the order reported
VARIANTS = {'plain': '', 'cmfp': 'cmfp-', 'rerank': 'rerank-'}


@METRICS.register_module()
class VIReIDMetric(BaseMetric):
    """CMC / mAP / mINP with the SYSU-MM01 or RegDB protocol.

    The dataloader's dataset is a ``'test'`` split (see
    :class:`~mmvireid.datasets.BaseVIReIDDataset`): every query and every
    gallery image of every trial, each once. The metric gathers the
    features of all ranks, L2-normalises them, then for each trial ranks
    that trial's gallery (SYSU: re-sampled per trial; RegDB: one trial) and
    reports the mean over trials. The query-gallery similarities (and,
    with CMFP, the query block) are computed once for all trials
    (:class:`~mmvireid.evaluation.functional.CMFPTrials`). Values are
    percentages; the functional core works in fractions.

    Each reported variant ranks with its own distances; every figure is
    computed once and has one key:

    - ``'plain'``: ``<prefix>/R1``, ``R5``, ``R10``, ``R20``, ``mAP``,
      ``mINP`` (cosine distances of the features);
    - ``'cmfp'``: ``<prefix>/cmfp-R1`` ... ``cmfp-mINP`` (test-time CMFP,
      SALCR Eq. 28-29), and ``<prefix>/cmfp-k``;
    - ``'rerank'``: ``<prefix>/rerank-R1`` ... ``rerank-mINP``
      (k-reciprocal re-ranking).

    With ``roc``, every variant also reports ``<prefix>/<variant->AUC``;
    with ``save_curves``, ``<prefix>/<variant->CMC`` and, with ``roc``,
    ``<prefix>/<variant->ROC`` (docs/evaluation.md, "Verification ROC /
    AUC and curves").

    So one ``VIReIDMetric(cmfp_k=10)`` reports a model with and without
    test-time CMFP; do not add a second VIReIDMetric for the same dataset
    (with another ``prefix`` it would recompute and report the plain
    figures again under other keys; with the same prefix mmengine's
    ``Evaluator`` rejects the clashing keys).

    Args:
        cmfp_k (int, optional): ``k_te`` of test-time CMFP; None disables.
        rerank (bool | dict): Also report k-reciprocal re-ranking; a dict
            gives ``k1``, ``k2``, ``lambda_value``.
        variants (str | Sequence[str], optional): The variants to report,
            from ``'plain'``, ``'cmfp'``, ``'rerank'`` (each at most once;
            reported in that order). ``'cmfp'`` needs ``cmfp_k`` and
            ``'rerank'`` needs ``rerank``, and a ``cmfp_k`` or ``rerank``
            given must be used. Defaults to ``'plain'``, plus ``'cmfp'``
            when ``cmfp_k`` is set and ``'rerank'`` when ``rerank`` is.
        cmc_mode (str): ``'dedup'`` (the SYSU reference) or ``'ordinary'``
            CMC for SYSU-protocol datasets. RegDB always uses the ordinary.
        max_rank (int): Length of the CMC curve. Defaults to 20.
        collect_device (str): ``'cpu'`` or ``'gpu'``.
        prefix (str, optional): Key prefix; defaults to the dataset's
            ``eval_prefix`` (e.g. ``'sysu-all'``, ``'regdb-v2t'``), or
            ``'vireid'`` when the dataset has none. Anything but a string
            or None is refused when built; two metrics of one evaluator
            reporting the same keys are refused when the runner is built
            (``check_evaluator_prefixes`` of
            :mod:`mmvireid.engine.runner.config_checks`).
        roc (bool): Also report the verification AUC over the query-gallery
            pairs the ranking keeps
            (:func:`~mmvireid.evaluation.functional.verification_roc`), the
            mean of the per-trial AUCs. Defaults to False.
        save_curves (bool): Also return the mean CMC curve (ranks 1 to
            ``max_rank``, an array) and, with ``roc``, the mean ROC curve
            (``dict(fpr=..., tpr=...)``, 1001 points, vertically averaged
            over trials), for ``tools/analysis_tools/plot_curves.py``.
            Defaults to False.
    """

    def __init__(self,
                 cmfp_k: Optional[int] = None,
                 rerank: Union[bool, dict] = False,
                 variants: Optional[Sequence[str]] = None,
                 cmc_mode: str = 'dedup',
                 max_rank: int = 20,
                 collect_device: str = 'cpu',
                 prefix: Optional[str] = None,
                 roc: bool = False,
                 save_curves: bool = False) -> None:
        if prefix is not None and not isinstance(prefix, str):
            # mmengine would fail joining it to the keys after the whole run
            raise ValueError(
                'VIReIDMetric: prefix must be a string, or None for the '
                f"dataset's eval_prefix; got {prefix!r} "
                f'({type(prefix).__name__})')
        super().__init__(
            collect_device=collect_device, prefix=prefix or 'vireid')
        self._prefix_from_dataset = prefix is None
        if cmc_mode not in ('dedup', 'ordinary'):
            raise ValueError(
                f"cmc_mode must be 'dedup' or 'ordinary', got {cmc_mode!r}")
        if cmfp_k is not None and cmfp_k < 1:
            raise ValueError(f'cmfp_k must be >= 1 or None, got {cmfp_k}')
        self.cmfp_k = cmfp_k
        self.rerank = dict(rerank) if isinstance(
            rerank, dict) else ({} if rerank else None)
        self.variants = self._check_variants(variants)
        self.cmc_mode = cmc_mode
        self.max_rank = max_rank
        self.roc, self.save_curves = bool(roc), bool(save_curves)

    def _check_variants(self,
                        variants: Optional[Sequence[str]]) -> Tuple[str, ...]:
        """The variants to report, in :data:`VARIANTS` order."""
        given = {
            'cmfp': self.cmfp_k is not None,
            'rerank': self.rerank is not None
        }
        if variants is None:
            return ('plain', ) + tuple(v for v, on in given.items() if on)
        if isinstance(variants, str):
            variants = (variants, )
        variants = tuple(variants)
        unknown = [v for v in variants if v not in VARIANTS]
        if unknown or not variants or len(set(variants)) != len(variants):
            raise ValueError('variants must name one or more distinct '
                             f'variants of {tuple(VARIANTS)}, got '
                             f'{variants!r}')
        for variant, option in (('cmfp', 'cmfp_k'), ('rerank', 'rerank')):
            if variant in variants and not given[variant]:
                raise ValueError(f'variant {variant!r} needs {option}, got '
                                 f'variants={variants!r} without it')
            if given[variant] and variant not in variants:
                raise ValueError(f'{option} is set but variants={variants!r}'
                                 f' does not report {variant!r}')
        return tuple(v for v in VARIANTS if v in variants)

    @property
    def dataset_meta(self) -> Optional[dict]:
        """Meta info of the dataset; also supplies the default prefix."""
        return self._dataset_meta

    @dataset_meta.setter
    def dataset_meta(self, dataset_meta: dict) -> None:
        self._dataset_meta = dataset_meta
        if self._prefix_from_dataset and dataset_meta:
            self.prefix = dataset_meta.get('eval_prefix', self.prefix)

    def process(self, data_batch, data_samples: Sequence[dict]) -> None:
        """Keep the feature and annotations of every sample of a batch."""
        for sample in data_samples:
            self.results.append(
                dict(
                    feature=sample['pred_feature'].detach().float().cpu(),
                    pid=int(sample['pid']),
                    camid=int(sample['camid']),
                    sample_idx=int(sample['sample_idx'])))

    def compute_metrics(self, results: List[dict]) -> Dict[str, float]:
        """Rank every trial and average the curves and scores."""
        meta = self.dataset_meta or {}
        if 'gallery_trials' not in meta:
            raise ValueError(
                'VIReIDMetric needs a dataset built with split="test" (its '
                'metainfo must hold query_indices and gallery_trials)')
        by_idx = {r['sample_idx']: r for r in results}
        query = [by_idx[i] for i in meta['query_indices'] if i in by_idx]
        if len(query) != len(meta['query_indices']):
            raise ValueError(f'features of {len(meta["query_indices"])} '
                             f'queries expected, got {len(query)}')
        q_raw = torch.stack([r['feature'] for r in query])
        q_pid, q_cam = self._labels(query)
        # the query set is the same in every trial and the galleries come
        # from one pool: similarities (and the CMFP query block) once
        trials = meta['gallery_trials']
        pool = sorted({i for indices in trials for i in indices})
        g_raw = torch.stack([by_idx[i]['feature'] for i in pool])
        position = {i: p for p, i in enumerate(pool)}
        trial_rows = [[position[i] for i in indices] for indices in trials]
        distances = CMFPTrials(q_raw, g_raw, trial_rows, k=self.cmfp_k)
        sums: Dict[str, np.ndarray] = {}
        extra: Dict[str, np.ndarray] = {}  # AUC and curves, with the options
        num_trials = len(trials)
        for trial, gallery_indices in enumerate(trials):
            gallery = [by_idx[i] for i in gallery_indices]
            g_pid, g_cam = self._labels(gallery)
            line = []
            for variant in self.variants:
                key = VARIANTS[variant]
                distmat = self._distance(distances, trial, variant, q_raw,
                                         g_raw[trial_rows[trial]])
                scores, cmc = self._evaluate(meta, distmat, q_pid, g_pid,
                                             q_cam, g_cam)
                sums[key] = sums.get(key, 0) + scores
                for name, value in self._curves(meta, distmat, cmc, q_pid,
                                                g_pid, q_cam, g_cam).items():
                    extra[key + name] = extra.get(key + name, 0) + value
                line.append(f'{key}R1 {100 * scores[0]:.2f} '
                            f'{key}mAP {100 * scores[-2]:.2f}')
            print_log(
                f'{self.prefix} trial {trial + 1}/{num_trials}: ' +
                ', '.join(line),
                logger='current')
        metrics = {}
        for key, total in sums.items():
            mean = 100 * total / num_trials
            for j, rank in enumerate(RANKS):
                metrics[f'{key}R{rank}'] = float(mean[j])
            metrics[f'{key}mAP'] = float(mean[-2])
            metrics[f'{key}mINP'] = float(mean[-1])
        aucs, curves = self._mean_extras(extra, num_trials)
        metrics.update(aucs)
        if 'cmfp' in self.variants:
            metrics['cmfp-k'] = self.cmfp_k
        print_log(
            f'{self.prefix} mean of {num_trials} trial(s): ' +
            ', '.join(f'{k} {v:.2f}' for k, v in metrics.items()),
            logger='current')
        metrics.update(curves)  # arrays: not in the line above
        return metrics

    @staticmethod
    def _labels(records: List[dict]) -> tuple:
        return (np.array([r['pid'] for r in records]),
                np.array([r['camid'] for r in records]))

    def _distance(self, distances: CMFPTrials, trial: int, variant: str,
                  q_raw: torch.Tensor, g_raw: torch.Tensor) -> np.ndarray:
        """Distance matrix (smaller is closer) of one variant and trial."""
        if variant == 'rerank':
            return k_reciprocal_rerank(
                F.normalize(q_raw, dim=1), F.normalize(g_raw, dim=1),
                **self.rerank)
        if variant == 'cmfp':
            return distances.cmfp(trial).numpy()
        return distances.plain(trial).numpy()

    def _evaluate(self, meta: dict, distmat: np.ndarray, q_pid, g_pid, q_cam,
                  g_cam) -> Tuple[np.ndarray, np.ndarray]:
        """``[R1, R5, R10, R20, mAP, mINP]`` of one trial, as fractions,
        and the trial's CMC curve."""
        if meta.get('protocol') == 'regdb':
            cmc, mAP, mINP = eval_regdb(
                distmat, q_pid, g_pid, max_rank=self.max_rank)
        else:
            cmc, mAP, mINP = eval_sysu(
                distmat,
                q_pid,
                g_pid,
                q_cam,
                g_cam,
                max_rank=self.max_rank,
                cmc_mode=self.cmc_mode)
        ranks = [cmc[min(r, len(cmc)) - 1] for r in RANKS]
        return np.array(ranks + [mAP, mINP], dtype=np.float64), cmc

    def _curves(self, meta: dict, distmat: np.ndarray, cmc: np.ndarray, q_pid,
                g_pid, q_cam, g_cam) -> Dict[str, np.ndarray]:
        """One trial's ``AUC`` (``roc``) and, with ``save_curves``, its
        ``CMC`` (``max_rank`` long; a short gallery's curve is padded with
        its last value, as R20 is) and ``ROC`` TPRs, as fractions."""
        out = {}
        if self.save_curves:
            ranks = np.minimum(np.arange(self.max_rank), len(cmc) - 1)
            out['CMC'] = cmc[ranks].astype(np.float64)
        if self.roc:
            cams = () if meta.get('protocol') == 'regdb' else (q_cam, g_cam)
            auc, _, tpr = verification_roc(distmat, q_pid, g_pid, *cams)
            out['AUC'] = np.float64(auc)
            if self.save_curves:
                out['ROC'] = tpr
        return out

    @staticmethod
    def _mean_extras(extra: Dict[str, np.ndarray],
                     num_trials: int) -> Tuple[dict, dict]:
        """The mean AUCs and the mean curves over trials, as percentages
        (ROC as ``dict(fpr, tpr)``)."""
        aucs, curves = {}, {}
        for name, total in extra.items():
            mean = 100 * total / num_trials
            if name.endswith('AUC'):
                aucs[name] = float(mean)
            elif name.endswith('ROC'):
                curves[name] = dict(
                    fpr=np.linspace(0.0, 100.0, mean.size), tpr=mean)
            else:
                curves[name] = mean
        return aucs, curves
