"""Circle packing as a program candidate: the code between the EVOLVE-BLOCK markers is what evolves.

construct_packing(n) tries a few layouts of n centres in rows (how many rows, how far odd rows are shifted), gives
each layout the radii with the largest sum its centres allow (a linear programme) and keeps the best layout.
"""

import numpy as np
from scipy.optimize import linprog


# EVOLVE-BLOCK-START
def row_layout(n: int, rows: int, stagger: float) -> np.ndarray:
    """n centres in `rows` rows, filled evenly; odd rows shifted right and even rows left by `stagger` of a gap/4."""
    per_row = [n // rows + (1 if i < n % rows else 0) for i in range(rows)]
    points = []
    for i, m in enumerate(per_row):
        shift = (0.25 / m if i % 2 else -0.25 / m) * stagger
        points += [(min(max((j + 0.5) / m + shift, 0.0), 1.0), (i + 0.5) / rows) for j in range(m)]
    return np.array(points, dtype=float)


def max_radii(centers: np.ndarray) -> np.ndarray:
    """Radii with the largest sum for fixed centres: maximise sum(r) s.t. r_i + r_j <= |c_i - c_j| and
    r_i <= distance to the nearest wall (HiGHS), then trimmed so the solver's tolerance leaves no overlap."""
    n = len(centers)
    wall = np.minimum(centers, 1.0 - centers).min(axis=1)
    i, j = np.triu_indices(n, 1)
    pairs = np.zeros((len(i), n))
    pairs[np.arange(len(i)), i] = 1.0
    pairs[np.arange(len(i)), j] = 1.0
    dist = np.linalg.norm(centers[i] - centers[j], axis=1)
    res = linprog(-np.ones(n), A_ub=pairs, b_ub=dist, bounds=list(zip(np.zeros(n), wall)), method="highs")
    r = np.clip(res.x, 0.0, wall) if res.success else np.zeros(n)
    for a, b, d in zip(i, j, dist):  # shrinking a pair only ever helps the others
        excess = r[a] + r[b] - d
        if excess > 0:
            r[a] = max(r[a] - excess / 2, 0.0)
            r[b] = max(min(r[b], d - r[a]), 0.0)
    return r


def construct_packing(n: int) -> tuple[np.ndarray, np.ndarray]:
    best = None
    for rows in range(3, 9):
        for stagger in (0.0, 0.5, 1.0):
            centers = row_layout(n, rows, stagger)
            radii = max_radii(centers)
            if best is None or radii.sum() > best[1].sum():
                best = (centers, radii)
    return best
# EVOLVE-BLOCK-END


if __name__ == "__main__":
    for n in (26, 32):
        print(n, float(construct_packing(n)[1].sum()))
