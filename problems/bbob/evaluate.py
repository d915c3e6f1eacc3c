"""Black-box continuous optimization on the BBOB suite, scored by AOCC, as LLaMEA does.

References: N. van Stein and T. Baeck, "LLaMEA: A Large Language Model Evolutionary Algorithm for Automatically
Generating Metaheuristics", IEEE TEVC 2024 (and the LLaMEA repository's AOCC helpers); N. Hansen et al., "Real-
parameter black-box optimization benchmarking 2009: noiseless functions definitions" (BBOB); the IOHprofiler
`ioh` package (BSD) provides the functions. Re-implemented here (no code copied).

AOCC (area over the convergence curve), per run with budget B:
    p_i = best precision f(x) - f_opt after i evaluations (i = 1..B; after the algorithm stops, its last value)
    n_i = (log10(clip(p_i, 1e-8, 1e2)) - log10(1e-8)) / (log10(1e2) - log10(1e-8))
    AOCC = 1 - mean_i n_i                       in [0, 1], higher is better
(LLaMEA's logger sums evaluations 1..B-1 and divides by B; this sums 1..B. The difference is below 1/B.)

Runs inside the sandbox: needs numpy and `ioh` (the sandbox uses the host's Python environment).
"""

from __future__ import annotations

import math

import numpy as np


class InvalidSolution(Exception):
    pass


LOWER, UPPER = 1e-8, 1e2
LB, UB = -5.0, 5.0
BUDGET_PER_DIM = 2000

# instance set -> list of (function id, instance id, dimension); one run per entry
_TRAIN_FUNCTIONS = [2, 5, 7, 10, 13, 15, 17, 21]  # 1-2 per BBOB group (separable, low/moderate cond, high cond,
#                                                    multimodal with/without global structure)
INSTANCE_SETS = {
    "train": [(f, i, 5) for f in _TRAIN_FUNCTIONS for i in (1, 2)],
    "test5": [(f, i, 5) for f in range(1, 25) for i in (4, 5, 6)],
    "test10": [(f, 4, 10) for f in range(1, 25)],
}


class _Bounds:
    def __init__(self, dim: int):
        self.lb = np.full(dim, LB)
        self.ub = np.full(dim, UB)


class _BudgetExhausted(BaseException):  # not Exception: a candidate's `except Exception` must not swallow it
    """Raised inside the candidate's run when it asks for more evaluations than its budget."""


class Function:
    """What the candidate sees: f(x) -> float on [-5, 5]^dim, with `bounds.lb`, `bounds.ub`, `dim`, `budget`,
    `evaluations`. Records the best-so-far precision after every evaluation."""

    def __init__(self, problem, budget: int):
        self._problem = problem
        self._fopt = float(problem.optimum.y)
        self.dim = int(problem.meta_data.n_variables)
        self.budget = budget
        self.bounds = _Bounds(self.dim)
        self.evaluations = 0
        self.best_y = math.inf
        self.best_x = None
        self._curve = np.empty(budget)

    def __call__(self, x) -> float:
        if self.evaluations >= self.budget:
            raise _BudgetExhausted()
        try:
            x = np.asarray(x, dtype=float)
        except (TypeError, ValueError) as exc:
            raise InvalidSolution(f"func was called with something that is not a vector of numbers: {exc}")
        if x.shape != (self.dim,):
            raise InvalidSolution(f"func was called with shape {x.shape}; it takes one point of shape ({self.dim},)")
        lo, hi = x.min(), x.max()
        if not (LB - 1e-9 <= lo and hi <= UB + 1e-9):  # also false for NaN
            if not np.all(np.isfinite(x)):
                raise InvalidSolution("func was called with a non-finite point")
            raise InvalidSolution(f"func was called outside the search space [{LB:g}, {UB:g}]^{self.dim} "
                                  f"(max |x_i| = {np.max(np.abs(x)):.4g}); clip to func.bounds.lb/ub")
        y = float(self._problem(x))
        prec = y - self._fopt
        if prec < self.best_y:
            self.best_y, self.best_x = prec, x.copy()
        self._curve[self.evaluations] = self.best_y
        self.evaluations += 1
        return y

    def aocc(self) -> float:
        n = self.evaluations
        if n == 0:
            return 0.0
        curve = self._curve.copy()
        curve[n:] = curve[n - 1]
        logp = np.log10(np.clip(curve, LOWER, UPPER))
        norm = (logp - math.log10(LOWER)) / (math.log10(UPPER) - math.log10(LOWER))
        return float(1.0 - norm.mean())


def _entry(candidate):
    fn = getattr(candidate, "optimize", None)
    if callable(fn):
        return fn
    cls = getattr(candidate, "Optimizer", None)
    if isinstance(cls, type):  # LLaMEA style: Optimizer(budget, dim)(func)
        return lambda func, budget, dim: cls(budget=budget, dim=dim)(func)
    raise InvalidSolution("the candidate defines neither `optimize(func, budget, dim)` nor a class `Optimizer`")


def run_one(opt, fid: int, iid: int, dim: int, seed: int) -> dict:
    import ioh

    problem = ioh.get_problem(fid, instance=iid, dimension=dim, problem_class=ioh.ProblemClass.BBOB)
    budget = BUDGET_PER_DIM * dim
    func = Function(problem, budget)
    np.random.seed(seed)
    with np.errstate(all="ignore"):
        try:
            opt(func, budget, dim)
        except _BudgetExhausted:
            pass
    return {
        "score": func.aocc(),
        "best_precision": float(func.best_y) if func.evaluations else None,
        "evaluations": func.evaluations,
        "function": problem.meta_data.name,
    }


def evaluate(candidate, instance_set: str, data_dir: str) -> dict:
    if instance_set not in INSTANCE_SETS:
        raise ValueError(f"unknown instance set {instance_set!r}; known: {', '.join(INSTANCE_SETS)}")
    opt = _entry(candidate)
    instances = {}
    for k, (fid, iid, dim) in enumerate(INSTANCE_SETS[instance_set]):
        instances[f"f{fid}_i{iid}_d{dim}"] = run_one(opt, fid, iid, dim, seed=1000 * fid + 10 * iid + dim)
    return {"instances": instances, "score": float(np.mean([v["score"] for v in instances.values()]))}
