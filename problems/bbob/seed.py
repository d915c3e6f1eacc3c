import numpy as np


def optimize(func, budget: int, dim: int) -> tuple[float, np.ndarray]:
    """Random search: sample uniformly in the search space, keep the best point."""
    lb, ub = func.bounds.lb, func.bounds.ub
    f_best, x_best = np.inf, None
    for _ in range(budget):
        x = np.random.uniform(lb, ub)
        f = func(x)
        if f < f_best:
            f_best, x_best = f, x
    return f_best, x_best
