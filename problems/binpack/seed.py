import numpy as np


def priority(item: float, bins: np.ndarray) -> np.ndarray:
    """Best fit: prefer the bin that the item leaves with the least remaining capacity."""
    return -(bins - item)
