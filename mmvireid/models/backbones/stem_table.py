"""The modality → stem table of the multi-stream backbones."""
from typing import Dict, List, Mapping, Sequence

from mmvireid.structures import MODALITIES

# The VI-ReID default: one stem per real (camera) modality, named after it.
# Only a default config value; no code path depends on these names.
DEFAULT_STEMS = {modality: modality for modality in MODALITIES}


def check_stem_table(stems: Mapping[str, str]) -> Dict[str, str]:
    """Validate a modality → stem table; returns a plain copy.

    Args:
        stems (Mapping[str, str]): Modality name → stem name, e.g.
            ``dict(visible='visible', infrared='infrared',
            augmented='visible')``.

    Returns:
        dict[str, str]: The table.

    Raises:
        ValueError: An empty table, or a name that is not a non-empty
            string (stem names must not contain ``'.'``: they are module
            names).
    """
    if not isinstance(stems, Mapping) or not stems:
        raise ValueError('stems must be a non-empty dict mapping '
                         f'modality names to stem names, got {stems!r}')
    for modality, stem in stems.items():
        if not isinstance(modality, str) or not modality:
            raise ValueError(f'stems: modality names must be non-empty '
                             f'strings, got {modality!r}')
        if not isinstance(stem, str) or not stem or '.' in stem:
            raise ValueError(
                f'stems: stem names must be non-empty strings without '
                f"'.', got {stem!r} for modality {modality!r}")
    return dict(stems)


def distinct_stems(table: Mapping[str, str]) -> List[str]:
    """The distinct stems of a table, in order of first appearance (the
    first one receives the pretrained weights)."""
    return list(dict.fromkeys(table.values()))


def stem_indices(table: Mapping[str, str],
                 modalities: Sequence[str]) -> List[int]:
    """Index into :func:`distinct_stems` of each image's stem.

    Args:
        table (Mapping[str, str]): The checked table.
        modalities (Sequence[str]): Modality name of each image.

    Returns:
        list[int]: The stem index of each image.

    Raises:
        TypeError: ``modalities`` is a single string.
        ValueError: A name that is not in the table.
    """
    if isinstance(modalities, str):
        raise TypeError('modalities must be a sequence of names, one per '
                        f'image, not the string {modalities!r}')
    index = {stem: i for i, stem in enumerate(distinct_stems(table))}
    ids = []
    for modality in modalities:
        stem = table.get(modality)
        if stem is None:
            raise ValueError(
                f'unknown modality {modality!r}: the stem table knows '
                f'{tuple(table)} (set stems=dict(...) in the backbone '
                'config)')
        ids.append(index[stem])
    return ids
