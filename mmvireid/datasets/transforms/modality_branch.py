"""Per-modality choice of a transform pipeline."""
from typing import Callable, List, Optional, Sequence, Union

from mmcv.transforms import BaseTransform, Compose

from mmvireid.registry import TRANSFORMS
from mmvireid.structures import MODALITIES

TransformSpec = Union[dict, Callable]


def _build_pipeline(transforms: Sequence[TransformSpec], name: str) -> Compose:
    """Build ``transforms`` from mmvireid's registry into a ``Compose``."""
    if isinstance(transforms, (dict, str)) or \
            not isinstance(transforms, Sequence):
        raise TypeError(f'{name} must be a list of transform configs, got '
                        f'{type(transforms).__name__}')
    built = []
    for transform in transforms:
        if isinstance(transform, dict):
            built.append(TRANSFORMS.build(transform))
        elif callable(transform):
            built.append(transform)
        else:
            raise TypeError(f'{name} holds {transform!r}, which is neither '
                            'a transform config nor a callable')
    return Compose(built)


@TRANSFORMS.register_module()
class ModalityBranch(BaseTransform):
    """Apply the visible or the infrared pipeline by ``results['modality']``.

    Each branch is a list of transform configs (or callables), built with
    mmvireid's ``TRANSFORMS`` registry, so unprefixed types are looked up
    in the current default scope (mmvireid in mmvireid configs, falling
    back to MMEngine's) and ``mmcv.``- or ``mmpretrain.``-prefixed types
    reach those packages' transforms. Each branch runs as an
    :class:`mmcv.transforms.Compose`; like it, a branch returning None
    (a filtered sample) makes this transform return None.

    Example:
        >>> dict(type='ModalityBranch',
        ...      visible=[dict(type='ChannelExchange')],
        ...      infrared=[dict(type='ChannelAdapGray', prob=0.5)])

    Required keys: ``modality`` (``'visible'`` or ``'infrared'``) and those
    of the chosen branch.

    Args:
        visible (list[dict | Callable]): Transforms for visible images.
        infrared (list[dict | Callable]): Transforms for infrared images.
    """

    def __init__(self, visible: List[TransformSpec],
                 infrared: List[TransformSpec]):
        self.branches = dict(
            visible=_build_pipeline(visible, 'visible'),
            infrared=_build_pipeline(infrared, 'infrared'))

    def transform(self, results: dict) -> Optional[dict]:
        """Run the pipeline of ``results['modality']`` on ``results``."""
        if 'modality' not in results:
            raise KeyError(
                f'{self.__class__.__name__} needs results["modality"] '
                f'(one of {MODALITIES}); keys present: {sorted(results)}')
        modality = results['modality']
        if modality not in self.branches:
            raise ValueError(
                f'{self.__class__.__name__}: unknown modality {modality!r} '
                f'for {results.get("img_path", "this sample")}; expected '
                f'one of {MODALITIES}')
        return self.branches[modality](results)

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}('
                f'visible={self.branches["visible"]!r}, '
                f'infrared={self.branches["infrared"]!r})')
