from .neighbour_sets import NeighbourSets
from .regional_neighbours import RegionalNeighbours

__all__ = ['NeighbourSets', 'RegionalNeighbours']
