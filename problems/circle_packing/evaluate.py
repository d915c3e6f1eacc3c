"""Circle packing in the unit square, maximising the sum of radii (the AlphaEvolve benchmark, n = 26 and n = 32);
split into a trusted and a candidate side (docs/problem-contract.md).

References: A. Novikov et al., "AlphaEvolve: A coding agent for scientific and algorithmic discovery", 2025
(arXiv:2506.13131), Appendix B.12; E. Friedman's Packing Center, "Circles in Squares: maximize sum of radii".
Re-implemented here from the problem statement (no code copied).

Candidate side (``run``, in the sandbox): calls ``construct_packing(n)`` and sends back the centres and radii as
float arrays. Trusted side (``public``, ``score``): exact feasibility of what came back — exactly n circles, finite
numbers, radii >= 0, every circle inside [0, 1]^2 and no two overlapping, each up to the absolute tolerance TOL —
else InvalidSolution naming the first violation; the score is the sum of the radii. Stdlib + numpy only (the
candidate may use scipy; the evaluator does not).
"""

from __future__ import annotations

import math

import numpy as np


class InvalidSolution(Exception):
    pass


TOL = 1e-9  # absolute slack on every containment and non-overlap constraint (floating-point contact)

# instance set -> {instance id: number of circles}
INSTANCE_SETS = {"n26": {"n26": 26}, "n32": {"n32": 32}}


# ---------------------------------------------------------------------------------------------- trusted side


def public(instance_set: str, data_dir: str) -> dict:
    if instance_set not in INSTANCE_SETS:
        raise ValueError(f"unknown instance set {instance_set!r}; known: {', '.join(INSTANCE_SETS)}")
    return {iid: {"n": n} for iid, n in INSTANCE_SETS[instance_set].items()}


def hidden(instance_set: str, data_dir: str) -> list:
    """Nothing is secret: the best-known sums are published and belong in prompts as targets."""
    return []


def area_bound(n: int) -> float:
    """A proven upper bound on the sum of radii: disjoint circles in the unit square have sum(pi r^2) <= 1, so by
    Cauchy-Schwarz sum(r) <= sqrt(n * sum(r^2)) <= sqrt(n / pi). Loose (2.88 for n = 26), but a real bound."""
    return math.sqrt(n / math.pi)


def _as_float_array(where: str, name: str, value, shape: tuple) -> np.ndarray:
    if not isinstance(value, np.ndarray) or value.dtype.kind not in "iuf":
        raise InvalidSolution(f"{where}: {name} must be a numeric array of shape {shape}, got {type(value).__name__}")
    if value.shape != shape:
        raise InvalidSolution(f"{where}: {name} has shape {value.shape}; expected {shape} (exactly {shape[0]} circles)")
    a = value.astype(np.float64)
    bad = ~np.isfinite(a.reshape(shape[0], -1)).all(axis=1)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise InvalidSolution(f"{where}: circle {i} has a non-finite {'radius' if name == 'radii' else 'centre'} "
                              f"({a[i].tolist()})")
    return a


def check_packing(where: str, output, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Centres (n, 2) and radii (n,) of a feasible packing, or InvalidSolution naming the first violation."""
    if not isinstance(output, dict) or set(output) != {"centers", "radii"}:
        raise InvalidSolution(f"{where}: expected {{'centers': (n, 2) array, 'radii': (n,) array}}, got "
                              f"{type(output).__name__}")
    c = _as_float_array(where, "centers", output["centers"], (n, 2))
    r = _as_float_array(where, "radii", output["radii"], (n,))
    neg = np.flatnonzero(r < 0)
    if neg.size:
        i = int(neg[0])
        raise InvalidSolution(f"{where}: circle {i} has a negative radius {r[i]:.6g}")
    for axis, name in ((0, "x"), (1, "y")):
        low = np.flatnonzero(c[:, axis] - r < -TOL)
        high = np.flatnonzero(c[:, axis] + r > 1 + TOL)
        for idx, side, slack in ((low, "below 0", c[:, axis] - r), (high, "above 1", 1 - (c[:, axis] + r))):
            if idx.size:
                i = int(idx[0])
                raise InvalidSolution(f"{where}: circle {i} (centre {c[i].tolist()}, radius {r[i]:.6g}) reaches "
                                      f"{name} {side} by {-slack[i]:.3g}, more than the tolerance {TOL:g}")
    d = np.sqrt(((c[:, None, :] - c[None, :, :]) ** 2).sum(-1))
    overlap = (r[:, None] + r[None, :]) - d
    iu, ju = np.triu_indices(n, 1)
    bad = np.flatnonzero(overlap[iu, ju] > TOL)
    if bad.size:
        i, j = int(iu[bad[0]]), int(ju[bad[0]])
        raise InvalidSolution(f"{where}: circles {i} and {j} overlap by {overlap[i, j]:.3g} (distance of centres "
                              f"{d[i, j]:.9g}, radii {r[i]:.9g} + {r[j]:.9g}), more than the tolerance {TOL:g}")
    return c, r


def score(instance_set: str, data_dir: str, outputs: dict) -> dict:
    instances = {}
    for iid, spec in public(instance_set, data_dir).items():
        if iid not in outputs:
            raise InvalidSolution(f"instance {iid}: no packing came back")
        n = spec["n"]
        _, r = check_packing(f"instance {iid}", outputs[iid], n)
        instances[iid] = {"score": float(r.sum()), "bound": area_bound(n), "smallest_radius": float(r.min())}
    return {"instances": instances, "score": float(np.mean([v["score"] for v in instances.values()]))}


# ---------------------------------------------------------------------------------------------- candidate side


def run(candidate, data) -> dict:
    construct = getattr(candidate, "construct_packing", None)
    if not callable(construct):
        raise InvalidSolution("the candidate defines no function `construct_packing(n) -> (centers, radii)`")
    n = int(data["n"])
    np.random.seed(0)  # a construction that draws from np.random stays repeatable
    out = construct(n)
    if not isinstance(out, (tuple, list)) or len(out) != 2:
        raise InvalidSolution(f"construct_packing({n}) must return a tuple (centers, radii), got "
                              f"{type(out).__name__}{f' of {len(out)}' if isinstance(out, (tuple, list)) else ''}")
    arrays = {}
    for name, value, shape in (("centers", out[0], (n, 2)), ("radii", out[1], (n,))):
        try:
            a = np.asarray(value, dtype=np.float64)
        except (TypeError, ValueError) as exc:
            raise InvalidSolution(f"construct_packing({n}): {name} is not an array of numbers ({exc})")
        if a.shape != shape:
            raise InvalidSolution(f"construct_packing({n}): {name} has shape {a.shape}; expected {shape}")
        arrays[name] = a
    return arrays
