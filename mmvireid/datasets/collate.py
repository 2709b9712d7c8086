"""Collation of ReID samples whose number of views differs."""
from typing import Any, Dict, List, Sequence

from mmvireid.registry import FUNCTIONS


@FUNCTIONS.register_module()
def vireid_collate(batch: Sequence[Dict[str, Any]]) -> Dict[str, List]:
    """Collect ``inputs`` and ``data_samples`` of a batch into lists.

    Unlike MMEngine's ``pseudo_collate``, which transposes a sample's list
    of views and so needs every sample to have as many views, this keeps
    each sample's ``inputs`` as it is: a tensor, or a list of views (e.g. a
    visible image with its channel-augmented view next to an infrared image
    with one view). Configs name it dict(type='mmvireid.vireid_collate')
    (MMEngine looks collate functions up in its root registry, so the scope
    prefix is needed). :class:`~mmvireid.models.VIReIDDataPreprocessor`
    flattens the views.

    Args:
        batch (Sequence[dict]): Outputs of ``PackVIReIDInputs``.

    Returns:
        dict: ``inputs`` and ``data_samples``, each a list in batch order.
    """
    missing = [
        i for i, sample in enumerate(batch)
        if 'inputs' not in sample or 'data_samples' not in sample
    ]
    if missing:
        raise KeyError(f'vireid_collate: samples {missing[:5]} lack '
                       '"inputs" or "data_samples" (pack them with '
                       'PackVIReIDInputs)')
    return dict(
        inputs=[sample['inputs'] for sample in batch],
        data_samples=[sample['data_samples'] for sample in batch])
