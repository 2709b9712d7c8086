"""Checks of a full config that need no data, run when the runner is built.

:class:`~mmvireid.engine.runner.VIReIDRunner` calls :func:`check_config`
first thing, so a value that can only be wrong fails before any dataset
is read or generated, any weight loaded and any epoch trained (issue #10,
"validation before any work"); ``tools/train.py``, ``tools/test.py`` and
``RUNNERS.build(cfg)`` all build that runner. Each check raises
``ValueError`` naming the config key and its value. Checks that need the
data (e.g. ``k1`` against a modality's image count) are made by the hooks
in ``before_train``, before the first extraction.

What is checked:

- evaluator prefixes (:func:`check_evaluator_prefixes`): a non-string
  ``prefix``, or two metrics of one evaluator that would report the same
  keys (mmengine's ``Evaluator`` refuses them only after the run);
- modality lists (:func:`check_modalities`): the modalities the training
  set declares (worked out from its config: mmvireid's datasets declare
  :data:`~mmvireid.structures.MODALITIES`, a ``VirtualModalityDataset``
  adds its ``name``) against the backbone's ``stems`` table, a head's
  ``num_modalities``, the clustering extraction set and a per-modality
  clusterer ``eps``. A part it cannot work out is not checked.
"""
from typing import Any, Iterator, List, Mapping, Optional, Tuple

from mmvireid.registry import DATASETS, METRICS

#: the evaluators of a config
EVALUATOR_KEYS = ('val_evaluator', 'test_evaluator')


def check_config(cfg: Optional[Mapping]) -> None:
    """Run every check of this module on a full config (None: nothing).

    Args:
        cfg (Config | dict, optional): The runner's config.

    Raises:
        ValueError: The first failed check, naming the key and value.
    """
    if cfg is None:
        return
    check_evaluator_prefixes(cfg)
    check_modalities(cfg)


# ---------------------------------------------------------------- metrics
def _metric_cfgs(name: str, evaluator: Any) -> Iterator[Tuple[str, Any]]:
    """``(key, metric config)`` of each metric of an evaluator config (a
    metric dict, a list of them or an ``Evaluator`` dict with ``metrics``)."""
    if evaluator is None:
        return
    if isinstance(evaluator, Mapping) and 'metrics' in evaluator:
        name, evaluator = f'{name}.metrics', evaluator['metrics']
    if isinstance(evaluator, (list, tuple)):
        for i, metric in enumerate(evaluator):
            yield f'{name}[{i}]', metric
    else:
        yield name, evaluator


def _metric_class(metric: Any) -> Optional[type]:
    """The class a metric config names (None if unknown here)."""
    if not isinstance(metric, Mapping):
        return type(metric)
    kind = metric.get('type')
    if isinstance(kind, type):
        return kind
    try:
        return METRICS.get(kind) if isinstance(kind, str) else None
    except Exception:  # a scope that is not imported: not checked here
        return None


def _reported(metric: Any, cls: Optional[type]) -> Tuple[Any, Any]:
    """``(prefix, key stems)`` a metric reports under; stems None when not
    known (any key)."""
    from mmvireid.evaluation.metrics.vireid_metric import (VARIANTS,
                                                           VIReIDMetric)
    get = metric.get if isinstance(metric, Mapping) else \
        lambda key, default=None: getattr(metric, key, default)
    prefix = get('prefix')
    if cls is None or not issubclass(cls, VIReIDMetric):
        if prefix is None and cls is not None:
            prefix = getattr(cls, 'default_prefix', None)
        return prefix, None
    if not isinstance(metric, Mapping):
        return prefix, {VARIANTS[v] for v in metric.variants}
    if prefix is None:
        prefix = "None (the dataset's eval_prefix)"
    elif not prefix:
        prefix = 'vireid'
    variants = get('variants')
    if variants is None:
        variants = ['plain']
        if get('cmfp_k') is not None:
            variants.append('cmfp')
        if get('rerank'):
            variants.append('rerank')
    elif isinstance(variants, str):
        variants = [variants]
    return prefix, {VARIANTS.get(v, v) for v in variants}


def check_evaluator_prefixes(cfg: Mapping) -> None:
    """Every metric prefix is a string (or None), and no two metrics of
    one evaluator report the same keys.

    Two :class:`~mmvireid.evaluation.VIReIDMetric` of one prefix clash
    unless their ``variants`` differ (``R1`` vs ``cmfp-R1``); metrics of
    other types clash with any metric of their prefix. A VIReIDMetric
    without ``prefix`` reports under its dataset's ``eval_prefix``, so two
    of them clash; one without and one with an explicit prefix equal to
    that ``eval_prefix`` are not found here.

    Args:
        cfg (Config | dict): The full config (``val_evaluator``,
            ``test_evaluator``).

    Raises:
        ValueError: Naming the key (``test_evaluator[1].prefix``) and
            value.
    """
    for name in EVALUATOR_KEYS:
        seen: List[Tuple[str, Any, Any]] = []
        for key, metric in _metric_cfgs(name, cfg.get(name)):
            prefix = metric.get('prefix') if isinstance(
                metric, Mapping) else getattr(metric, 'prefix', None)
            if prefix is not None and not isinstance(prefix, str):
                raise ValueError(
                    f'{key}.prefix must be a string (or None: the '
                    f"dataset's eval_prefix), got {prefix!r} "
                    f'({type(prefix).__name__})')
            cls = _metric_class(metric)
            prefix, stems = _reported(metric, cls)
            if prefix is None:  # keys without a prefix: not known here
                continue
            for other_key, other_prefix, other_stems in seen:
                if other_prefix != prefix:
                    continue
                if stems is None or other_stems is None:
                    clash = 'its keys'
                elif stems & other_stems:
                    stem = sorted(stems & other_stems)[0]
                    clash = f"'{prefix}/{stem}R1' ..."
                else:
                    continue
                raise ValueError(
                    f'{key}.prefix={prefix!r} is also the prefix of '
                    f'{other_key}: both would report {clash}, and '
                    "mmengine's Evaluator refuses the clash only after the "
                    f'whole run; give each metric of {name} its own prefix '
                    '(one VIReIDMetric reports plain, cmfp and rerank '
                    'figures together)')
            seen.append((key, prefix, stems))


# ------------------------------------------------------------- modalities
def declared_modalities(dataset: Any) -> Optional[Tuple[str, ...]]:
    """The modalities a dataset config (or dataset) will declare, or None
    when it cannot be told without building it."""
    from mmvireid.datasets import BaseVIReIDDataset, VirtualModalityDataset
    from mmvireid.structures import MODALITIES
    if not isinstance(dataset, Mapping):
        metainfo = getattr(dataset, 'metainfo', None)
        found = metainfo.get('modalities') if isinstance(metainfo,
                                                         Mapping) else None
        return tuple(found) if found else None
    kind = dataset.get('type')
    try:
        cls = DATASETS.get(kind) if isinstance(kind, str) else kind
    except Exception:  # a scope that is not imported
        return None
    if not isinstance(cls, type):
        return None
    if issubclass(cls, VirtualModalityDataset):
        inner = declared_modalities(dataset.get('dataset'))
        name = dataset.get('name')
        return inner + (name, ) if inner and isinstance(name, str) else None
    if issubclass(cls, BaseVIReIDDataset):
        return tuple(MODALITIES)
    return None


def _hook_cfgs(cfg: Mapping) -> Iterator[Tuple[str, Mapping]]:
    """``(key, config)`` of the custom hooks (by name or mmengine's list)."""
    hooks = cfg.get('custom_hooks')
    if isinstance(hooks, Mapping):
        items = ((f'custom_hooks.{k}', h) for k, h in hooks.items())
    elif isinstance(hooks, (list, tuple)):
        items = ((f'custom_hooks[{i}]', h) for i, h in enumerate(hooks))
    else:
        return
    for key, hook in items:
        if isinstance(hook, Mapping):
            yield key, hook


def check_modalities(cfg: Mapping) -> None:
    """The modality lists of the model and the hooks match those the
    training set declares (see the module docstring).

    Args:
        cfg (Config | dict): The full config.

    Raises:
        ValueError: Naming the key, its value and the declared modalities.
    """
    loader = cfg.get('train_dataloader')
    if not isinstance(loader, Mapping):
        return
    modalities = declared_modalities(loader.get('dataset'))
    if not modalities:
        return
    source = f'train_dataloader.dataset declares {modalities}'
    model = cfg.get('model')
    model = model if isinstance(model, Mapping) else {}
    backbone = model.get('backbone')
    stems = backbone.get('stems') if isinstance(backbone, Mapping) else None
    if isinstance(stems, Mapping):
        missing = [m for m in modalities if m not in stems]
        if missing:
            raise ValueError(
                f'model.backbone.stems={dict(stems)!r} has no stem for '
                f'{missing[0]!r}, but {source}: add '
                f"model.backbone.stems.{missing[0]}='<stem>'")
    head = model.get('head')
    count = head.get('num_modalities') if isinstance(head, Mapping) else None
    if isinstance(count, int) and count != len(modalities):
        raise ValueError(f'model.head.num_modalities={count}, but {source} '
                         f'({len(modalities)})')
    for key, hook in _hook_cfgs(cfg):
        if str(hook.get('type')).split('.')[-1] != 'ClusteringHook':
            continue
        extract = hook.get('extract_dataloader')
        theirs = declared_modalities(extract.get('dataset')) if isinstance(
            extract, Mapping) else None
        if theirs is not None and theirs != modalities:
            raise ValueError(
                f'{key}.extract_dataloader.dataset declares {theirs}, but '
                f'{source}: the clustering must extract the training set')
        clusterer = hook.get('clusterer')
        eps = clusterer.get('eps') if isinstance(clusterer, Mapping) else None
        if isinstance(eps, Mapping) and set(eps) != set(modalities):
            raise ValueError(
                f'{key}.clusterer.eps={dict(eps)!r} gives {sorted(eps)}, '
                f'but {source}: give one eps per modality, or one number')
