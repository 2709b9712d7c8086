"""A dataset index that carries its place in a P x K batch."""
from typing import Dict, Union

#: results / metainfo keys of the ids a batch sampler gives an index
DRAWN_ID_KEYS = ('group_id', 'pair_id')


class DrawnIndex(int):
    """An ``int`` dataset index with the ids of its slot in the batch.

    A batch sampler (:class:`CrossModalClusterSampler`) yields these
    instead of plain ints. It *is* the index: equality, hashing, ``str``,
    formatting, arithmetic (which returns plain ints), numpy and torch
    conversion are those of ``int(self)``. The dataset copies the ids into
    each sample's results (:func:`drawn_ids`) and
    :class:`~mmvireid.datasets.transforms.PackVIReIDInputs` into the data
    sample's metainfo, so every view of the sample carries them.

    It pickles with its ids (DataLoader workers receive the indices of a
    batch through a pickling queue).

    Args:
        index (int): The dataset index.
        group_id (int): The P x K block (pseudo-identity slot) of the batch
            the index was drawn for; unique to the block within the batch.
        pair_id (int): The pair the index belongs to within the batch
            (shared by the two members of a cross-modal pair), ``-1`` when
            the batch is not paired.

    Attributes:
        group_id (int): See Args.
        pair_id (int): See Args.
    """

    def __new__(cls,
                index: int,
                group_id: int,
                pair_id: int = -1) -> 'DrawnIndex':
        self = super().__new__(cls, index)
        self.group_id = int(group_id)
        self.pair_id = int(pair_id)
        return self

    def __reduce__(self) -> tuple:
        return type(self), (int(self), self.group_id, self.pair_id)


def drawn_ids(index: Union[int, DrawnIndex]) -> Dict[str, int]:
    """``{'group_id': g, 'pair_id': p}`` of a :class:`DrawnIndex`, ``{}``
    for any other index (a plain int carries no ids)."""
    if isinstance(index, DrawnIndex):
        return dict(group_id=index.group_id, pair_id=index.pair_id)
    return {}


def same_slot(index: Union[int, DrawnIndex],
              new_index: int) -> Union[int, DrawnIndex]:
    """``new_index`` with the ids of ``index`` when it has some, else as
    it is (how a dataset wrapper passes a drawn index on)."""
    if isinstance(index, DrawnIndex):
        return type(index)(new_index, index.group_id, index.pair_id)
    return new_index
