"""Online bin packing, evaluated the way FunSearch evaluates it, split into a trusted and a candidate side
(docs/problem-contract.md).

Reference: Romera-Paredes et al., "Mathematical discoveries from program search with large language
models", Nature 2024; the evaluation skeleton in google-deepmind/funsearch, bin_packing/bin_packing.ipynb.
Re-implemented here from that description (no code copied):

* every instance starts with as many bins as it has items, all at full capacity (so an empty bin is
  always available and "opening a new bin" is just choosing an empty one);
* items arrive in the given order; for each item the candidate's ``priority(item, bins)`` is called with
  the remaining capacities of the bins the item fits into (remaining capacity >= item, empty bins
  included, in bin order), and the item goes to the first bin with the highest score (``np.argmax``);
* bins used = bins whose remaining capacity differs from the capacity;
* excess over the L1 bound ceil(sum(items) / capacity), in %. The set score is FunSearch's:
  (mean bins used - mean L1 bound) / mean L1 bound * 100, a ratio of means over the set's instances.

Candidate side (``run``, in the sandbox): the online loop above, given one instance's items and capacity; it
returns the bin chosen for every item. Trusted side (``public``, ``score``): reads the instance files, and
re-checks every returned packing (one valid bin per item, no bin over capacity) before counting its bins; the
L1 bound is computed here. Stdlib + numpy only.

Stricter than FunSearch in one respect: a priority function must return one finite number per bin it was given
(FunSearch would silently take argmax of whatever came back); anything else raises InvalidSolution.
"""

from __future__ import annotations

import json
import math
import os

import numpy as np


class InvalidSolution(Exception):
    pass


# instance set -> (file, how to read it)
INSTANCE_SETS = {
    "train": ("train_weibull.json", "json:"),
    "or1": ("binpack1.txt", "orlib"),
    "or2": ("binpack2.txt", "orlib"),
    "or3": ("binpack3.txt", "orlib"),
    "or4": ("binpack4.txt", "orlib"),
    "weibull5k": ("funsearch_binpacking_datasets.json", "json:Weibull 5k"),
}


# ---------------------------------------------------------------------------------------------- trusted side


def parse_orlib(text: str) -> dict[str, dict]:
    """OR-Library bin packing format (binpack1..8): the number of problems, then per problem an
    identifier line, a line 'capacity n_items best_known', and n_items item sizes, one per line."""
    tokens = text.split()
    n_problems = int(tokens[0])
    pos = 1
    out: dict[str, dict] = {}
    for _ in range(n_problems):
        name = tokens[pos]
        capacity = int(float(tokens[pos + 1]))
        n_items = int(tokens[pos + 2])
        best_known = int(tokens[pos + 3])
        pos += 4
        items = [int(float(t)) for t in tokens[pos:pos + n_items]]
        if len(items) != n_items:
            raise ValueError(f"{name}: expected {n_items} items, file ends after {len(items)}")
        pos += n_items
        out[name] = {"capacity": capacity, "items": items, "best_known": best_known}
    return out


def load_instances(instance_set: str, data_dir: str) -> dict[str, dict]:
    if instance_set not in INSTANCE_SETS:
        raise ValueError(f"unknown instance set {instance_set!r}; known: {', '.join(INSTANCE_SETS)}")
    filename, how = INSTANCE_SETS[instance_set]
    path = os.path.join(data_dir, filename)
    with open(path) as f:
        text = f.read()
    if how == "orlib":
        return parse_orlib(text)
    data = json.loads(text)
    key = how.split(":", 1)[1]
    return data[key] if key else data


def l1_bound(items, capacity: int) -> int:
    return int(math.ceil(sum(items) / capacity))


def public(instance_set: str, data_dir: str) -> dict:
    """What the packing loop needs: the items in arrival order and the capacity (never OR-Library's best known)."""
    return {
        name: {"id": name, "capacity": int(inst["capacity"]),
               "items": np.array([int(x) for x in inst["items"]], dtype=np.int64)}
        for name, inst in load_instances(instance_set, data_dir).items()
    }


def hidden(instance_set: str, data_dir: str) -> list:
    """Nothing of an instance is secret: the items are public and the L1 bound follows from them."""
    return []


def bin_loads(instance_id: str, assignment, items: list[int], capacity: int) -> np.ndarray:
    """The load of each of the instance's n bins under `assignment` (bin index per item), after checking that it
    is a packing: one int bin index in 0..n-1 per item, no bin over capacity."""
    n = len(items)
    a = assignment
    if isinstance(a, list) and all(type(v) is int for v in a):
        a = np.array(a, dtype=np.int64)
    if not isinstance(a, np.ndarray) or a.dtype.kind not in "iu" or a.ndim != 1:
        shown = f"array of dtype {a.dtype} and shape {a.shape}" if isinstance(a, np.ndarray) else type(a).__name__
        raise InvalidSolution(f"instance {instance_id}: the packing must be a 1-D list or array of int bin indices, "
                              f"got a {shown}")
    if a.shape[0] != n:
        raise InvalidSolution(f"instance {instance_id}: the packing assigns {a.shape[0]} items; the instance has {n}")
    bad = np.flatnonzero((a < 0) | (a >= n))
    if bad.size:
        i = int(bad[0])
        raise InvalidSolution(f"instance {instance_id}: item {i} is put into bin {int(a[i])}; bins are 0..{n - 1}")
    loads = np.zeros(n, dtype=np.int64)
    np.add.at(loads, a.astype(np.int64), np.asarray(items, dtype=np.int64))
    over = np.flatnonzero(loads > capacity)
    if over.size:
        b = int(over[0])
        raise InvalidSolution(f"instance {instance_id}: bin {b} holds {int(loads[b])}, over the capacity {capacity}")
    return loads


def score(instance_set: str, data_dir: str, outputs: dict) -> dict:
    instances = load_instances(instance_set, data_dir)
    results: dict[str, dict] = {}
    used_all, bound_all = [], []
    for name, inst in instances.items():
        if name not in outputs:
            raise InvalidSolution(f"instance {name}: no packing came back")
        items = [int(x) for x in inst["items"]]
        capacity = int(inst["capacity"])
        loads = bin_loads(name, outputs[name], items, capacity)
        used = int(np.count_nonzero(loads))  # = bins whose remaining capacity differs from the capacity
        bound = l1_bound(items, capacity)
        used_all.append(used)
        bound_all.append(bound)
        results[name] = {
            "score": 100.0 * (used - bound) / bound,
            "bins": used,
            "l1_bound": bound,
        }
    mean_used, mean_bound = float(np.mean(used_all)), float(np.mean(bound_all))
    return {
        "instances": results,
        "score": 100.0 * (mean_used - mean_bound) / mean_bound,
        "mean_bins": mean_used,
        "mean_l1_bound": mean_bound,
    }


# ---------------------------------------------------------------------------------------------- candidate side


def pack(priority, items, capacity: int) -> np.ndarray:
    """Pack `items` online with `priority`; return the bin index chosen for each item."""
    n = len(items)
    bins = np.full(n, capacity, dtype=np.int64)
    chosen = np.empty(n, dtype=np.int64)
    for k, item in enumerate(items):
        valid = np.nonzero(bins >= item)[0]
        scores = priority(item, bins[valid])
        try:
            scores = np.asarray(scores, dtype=float)
        except (TypeError, ValueError) as exc:
            raise InvalidSolution(f"priority must return an array of numbers, got {type(scores).__name__}: {exc}")
        if scores.shape != valid.shape:
            raise InvalidSolution(
                f"priority returned shape {scores.shape} for {valid.size} bins; it must return one score per bin "
                f"(shape ({valid.size},))"
            )
        best = int(np.argmax(scores))
        if not math.isfinite(scores[best]) or np.isnan(scores).any():
            raise InvalidSolution(f"priority returned a non-finite score (item {item}, {valid.size} bins)")
        chosen[k] = valid[best]
        bins[valid[best]] -= item
    return chosen


def run(candidate, data) -> np.ndarray:
    priority = getattr(candidate, "priority", None)
    if not callable(priority):
        raise InvalidSolution("the candidate module defines no function `priority(item, bins)`")
    np.random.seed(0)  # a priority that draws from np.random stays repeatable
    return pack(priority, [int(x) for x in data["items"]], int(data["capacity"]))
