import numpy as np


def construct_packing(n: int) -> tuple[np.ndarray, np.ndarray]:
    """Square grid: k x k cells with k = ceil(sqrt(n)), one circle inscribed in each of the first n cells."""
    k = int(np.ceil(np.sqrt(n)))
    cells = np.arange(n)
    centers = np.stack([(cells % k + 0.5) / k, (cells // k + 0.5) / k], axis=1)
    radii = np.full(n, 0.5 / k)
    return centers, radii
