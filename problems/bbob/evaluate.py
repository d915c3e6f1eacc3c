"""Black-box continuous optimization on the BBOB suite, scored by AOCC, as LLaMEA does; split into a trusted and a
candidate side (docs/problem-contract.md).

References: N. van Stein and T. Baeck, "LLaMEA: A Large Language Model Evolutionary Algorithm for Automatically
Generating Metaheuristics", IEEE TEVC 2024 (and the LLaMEA repository's AOCC helpers); N. Hansen et al., "Real-
parameter black-box optimization benchmarking 2009: noiseless functions definitions" (BBOB); the IOHprofiler
`ioh` package (BSD) provides the functions. Re-implemented here (no code copied).

AOCC (area over the convergence curve), per run with budget B:
    p_i = best precision f(x) - f_opt after i evaluations (i = 1..B; after the algorithm stops, its last value)
    n_i = (log10(clip(p_i, 1e-8, 1e2)) - log10(1e-8)) / (log10(1e2) - log10(1e-8))
    AOCC = 1 - mean_i n_i                       in [0, 1], higher is better
(LLaMEA's logger sums evaluations 1..B-1 and divides by B; this sums 1..B. The difference is below 1/B.)

Candidate side (``run``, in the sandbox; needs numpy and `ioh`): runs the optimizer against a budget-limited
``Function`` and returns every point it queried, in order. Trusted side (``public``, ``score``): checks those points
(at most the budget, the right shape, finite, inside the bounds), evaluates f at each of them with its own ioh
problem and computes the AOCC from those values, so the curve cannot be forged.
"""

from __future__ import annotations

import math

import numpy as np


class InvalidSolution(Exception):
    pass


LOWER, UPPER = 1e-8, 1e2
LB, UB = -5.0, 5.0
BOUND_TOL = 1e-9
BUDGET_PER_DIM = 2000

# instance set -> list of (function id, instance id, dimension); one run per entry
_TRAIN_FUNCTIONS = [2, 5, 7, 10, 13, 15, 17, 21]  # 1-2 per BBOB group (separable, low/moderate cond, high cond,
#                                                    multimodal with/without global structure)
INSTANCE_SETS = {
    "train": [(f, i, 5) for f in _TRAIN_FUNCTIONS for i in (1, 2)],
    "test5": [(f, i, 5) for f in range(1, 25) for i in (4, 5, 6)],
    "test10": [(f, 4, 10) for f in range(1, 25)],
}


def _bbob(fid: int, iid: int, dim: int):
    import ioh

    return ioh.get_problem(fid, instance=iid, dimension=dim, problem_class=ioh.ProblemClass.BBOB)


# ---------------------------------------------------------------------------------------------- trusted side


def public(instance_set: str, data_dir: str) -> dict:
    """Which BBOB function each run is on (public knowledge: the suite is), its budget and the np.random seed."""
    if instance_set not in INSTANCE_SETS:
        raise ValueError(f"unknown instance set {instance_set!r}; known: {', '.join(INSTANCE_SETS)}")
    return {
        f"f{fid}_i{iid}_d{dim}": {"fid": fid, "iid": iid, "dim": dim, "budget": BUDGET_PER_DIM * dim,
                                  "seed": 1000 * fid + 10 * iid + dim}
        for fid, iid, dim in INSTANCE_SETS[instance_set]
    }


def hidden(instance_set: str, data_dir: str) -> list:
    """Nothing to scrub: the metrics (precisions, evaluation counts) hold nothing the candidate side cannot see, as
    it holds the ioh problem (README.md, "what runs where")."""
    return []


def aocc(values: np.ndarray, f_opt: float, budget: int) -> float:
    """AOCC of a run whose evaluations returned `values` (in order), padded to `budget` with the final best."""
    n = len(values)
    if n == 0:
        return 0.0
    curve = np.empty(budget)
    curve[:n] = np.minimum.accumulate(np.asarray(values, dtype=float) - f_opt)
    curve[n:] = curve[n - 1]
    logp = np.log10(np.clip(curve, LOWER, UPPER))
    norm = (logp - math.log10(LOWER)) / (math.log10(UPPER) - math.log10(LOWER))
    return float(1.0 - norm.mean())


def checked_points(instance_id: str, points, dim: int, budget: int) -> np.ndarray:
    """The queried points as a float64 (k, dim) array, after checking the run's rules; else InvalidSolution."""
    where = f"instance {instance_id}"
    if not isinstance(points, np.ndarray) or points.dtype.kind not in "iuf":
        raise InvalidSolution(f"{where}: the queried points must be a numeric array of shape (evaluations, {dim}), "
                              f"got {type(points).__name__}")
    if points.ndim != 2 or points.shape[1] != dim:
        raise InvalidSolution(f"{where}: the queried points have shape {points.shape}; expected (evaluations, {dim})")
    if points.shape[0] > budget:
        raise InvalidSolution(f"{where}: {points.shape[0]} points came back, more than the budget of {budget}")
    x = points.astype(np.float64)
    bad = ~np.isfinite(x).all(axis=1)
    if bad.any():
        raise InvalidSolution(f"{where}: point {int(np.flatnonzero(bad)[0])} is not finite")
    out = ((x < LB - BOUND_TOL) | (x > UB + BOUND_TOL)).any(axis=1)
    if out.any():
        i = int(np.flatnonzero(out)[0])
        raise InvalidSolution(f"{where}: point {i} is outside the search space [{LB:g}, {UB:g}]^{dim} "
                              f"(max |x_i| = {np.max(np.abs(x[i])):.4g})")
    return x


def score(instance_set: str, data_dir: str, outputs: dict) -> dict:
    instances = {}
    for iid_key, spec in public(instance_set, data_dir).items():
        if iid_key not in outputs:
            raise InvalidSolution(f"instance {iid_key}: no points came back")
        x = checked_points(iid_key, outputs[iid_key], spec["dim"], spec["budget"])
        problem = _bbob(spec["fid"], spec["iid"], spec["dim"])
        f_opt = float(problem.optimum.y)
        values = np.asarray(problem(x), dtype=float).reshape(-1) if len(x) else np.empty(0)
        instances[iid_key] = {
            "score": aocc(values, f_opt, spec["budget"]),
            "best_precision": float(values.min() - f_opt) if len(values) else None,
            "evaluations": int(len(values)),
            "function": problem.meta_data.name,
        }
    return {"instances": instances, "score": float(np.mean([v["score"] for v in instances.values()]))}


# ---------------------------------------------------------------------------------------------- candidate side


class _Bounds:
    def __init__(self, dim: int):
        self.lb = np.full(dim, LB)
        self.ub = np.full(dim, UB)


class _BudgetExhausted(BaseException):  # not Exception: a candidate's `except Exception` must not swallow it
    """Raised inside the candidate's run when it asks for more evaluations than its budget."""


class Function:
    """What the candidate sees: f(x) -> float on [-5, 5]^dim, with `bounds.lb`, `bounds.ub`, `dim`, `budget`,
    `evaluations`. Records every point it is called with (what the judge scores)."""

    def __init__(self, problem, budget: int):
        self._problem = problem
        self.dim = int(problem.meta_data.n_variables)
        self.budget = budget
        self.bounds = _Bounds(self.dim)
        self.evaluations = 0
        self._points = np.empty((budget, self.dim))

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
        if not (LB - BOUND_TOL <= lo and hi <= UB + BOUND_TOL):  # also false for NaN
            if not np.all(np.isfinite(x)):
                raise InvalidSolution("func was called with a non-finite point")
            raise InvalidSolution(f"func was called outside the search space [{LB:g}, {UB:g}]^{self.dim} "
                                  f"(max |x_i| = {np.max(np.abs(x)):.4g}); clip to func.bounds.lb/ub")
        y = float(self._problem(x))
        self._points[self.evaluations] = x
        self.evaluations += 1
        return y

    def points(self) -> np.ndarray:
        return self._points[:self.evaluations].copy()


def _entry(candidate):
    fn = getattr(candidate, "optimize", None)
    if callable(fn):
        return fn
    cls = getattr(candidate, "Optimizer", None)
    if isinstance(cls, type):  # LLaMEA style: Optimizer(budget, dim)(func)
        return lambda func, budget, dim: cls(budget=budget, dim=dim)(func)
    raise InvalidSolution("the candidate defines neither `optimize(func, budget, dim)` nor a class `Optimizer`")


def run(candidate, data) -> np.ndarray:
    opt = _entry(candidate)
    dim, budget = int(data["dim"]), int(data["budget"])
    func = Function(_bbob(int(data["fid"]), int(data["iid"]), dim), budget)
    np.random.seed(int(data["seed"]))
    with np.errstate(all="ignore"):
        try:
            opt(func, budget, dim)
        except _BudgetExhausted:
            pass
    return func.points()
