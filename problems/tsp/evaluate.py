"""Constructive TSP, evaluated the way EoH and ReEvo evaluate it.

References: Liu et al., "Evolution of Heuristics" (EoH, ICML 2024) and Ye et al., "ReEvo: Large Language
Models as Hyper-Heuristics with Reflective Evolution" (NeurIPS 2024), repository ai4co/reevo,
problems/tsp_constructive/eval.py. Re-implemented here from that description (no code copied):

* the tour starts at node 0, which is also the destination (the tour returns there at the end);
* n - 1 times, ``select_next_node(current_node, destination_node, unvisited_nodes, distance_matrix)`` is
  called with the last node of the partial tour, node 0, the unvisited nodes and the distance matrix, and
  the node it returns is appended;
* score = gap of the closed tour's length to the optimal length, in % (minimize); the set score is the mean
  gap over the set's instances.

Differences from ReEvo, all documented in README.md: ``unvisited_nodes`` is a sorted 1-D numpy int array
(ReEvo passes a Python set); every returned node is validated (an int-like that is one of the unvisited
nodes, else InvalidSolution naming the instance, the step and what came back); on the ``tsplib`` set the
tour length is TSPLIB's integer length on the original coordinates (Reinelt, "TSPLIB - A Traveling Salesman
Problem Library", ORSA J. Computing 3(4), 1991, and the TSPLIB95 format description): EUC_2D nint of each
Euclidean edge, ATT the rounded-up pseudo-Euclidean distance, GEO the truncated great-circle distance; the
candidate sees the same metric before rounding, divided by one constant per instance so that magnitudes are
those of the unit square (EUC_2D and ATT: Euclidean distances of the coordinates shifted to the origin and
divided by the larger side of their bounding box, as ReEvo's TSPLIB test does; GEO: great-circle distances
divided by the largest of them).

Trusted scoring (docs/problem-contract.md): public() gives the candidate side each instance's coordinates and
metric; run() builds the tour in the sandbox by calling the candidate; score() re-checks the tour and measures
it with its own distance matrix against the optimal lengths in data/optima.json, which only the judge reads.
stdlib + numpy only.
"""

from __future__ import annotations

import functools
import json
import os

import numpy as np

RANDOM_SETS = ("train50", "test20", "test50", "test100", "test200")
TSPLIB_SET = "tsplib"


class InvalidSolution(Exception):
    pass


def distances(xy: np.ndarray) -> np.ndarray:
    """Euclidean distance matrix, n x n float64."""
    diff = xy[:, None, :] - xy[None, :, :]
    return np.sqrt((diff * diff).sum(-1))


def tsplib_nint_matrix(xy: np.ndarray) -> np.ndarray:
    """TSPLIB EUC_2D distances: nint(sqrt(dx^2 + dy^2)) = floor(d + 0.5) (Reinelt 1991)."""
    return np.floor(distances(xy) + 0.5)


def tsplib_att_matrix(xy: np.ndarray) -> np.ndarray:
    """TSPLIB ATT (pseudo-Euclidean): r = sqrt((dx^2 + dy^2) / 10); t = nint(r); t + 1 if t < r else t."""
    r = distances(xy) / np.sqrt(10.0)
    t = np.floor(r + 0.5)
    return np.where(t < r, t + 1, t)


_GEO_PI = 3.141592  # TSPLIB's own value of pi for GEO
_GEO_RRR = 6378.388  # TSPLIB's earth radius in km


def _geo_radians(xy: np.ndarray) -> np.ndarray:
    """TSPLIB GEO coordinates are DDD.MM (degrees.minutes): deg = trunc(x), min = x - deg,
    radians = PI * (deg + 5 * min / 3) / 180. The format description writes nint(x) for deg; truncation (as in
    Concorde) is what reproduces the published optima (make_data.py checks every GEO instance with LKH)."""
    deg = np.trunc(xy)
    return _GEO_PI * (deg + 5.0 * (xy - deg) / 3.0) / 180.0


def geo_distances(xy: np.ndarray) -> np.ndarray:
    """Great-circle distances in km by TSPLIB's GEO formula, before its integer rounding; zero diagonal."""
    rad = _geo_radians(xy)
    lat, lon = rad[:, 0], rad[:, 1]
    q1 = np.cos(lon[:, None] - lon[None, :])
    q2 = np.cos(lat[:, None] - lat[None, :])
    q3 = np.cos(lat[:, None] + lat[None, :])
    d = _GEO_RRR * np.arccos(np.clip(0.5 * ((1.0 + q1) * q2 - (1.0 - q1) * q3), -1.0, 1.0))
    np.fill_diagonal(d, 0.0)
    return d


def tsplib_geo_matrix(xy: np.ndarray) -> np.ndarray:
    """TSPLIB GEO: d_ij = (int)(RRR * acos(0.5 * ((1 + q1) q2 - (1 - q1) q3)) + 1.0); zero diagonal."""
    d = np.floor(geo_distances(xy) + 1.0)
    np.fill_diagonal(d, 0.0)
    return d


TSPLIB_TYPES = ("EUC_2D", "ATT", "GEO")  # the coordinate types supported here


def tsplib_matrix(xy: np.ndarray, edge_weight_type: str) -> np.ndarray:
    """The integer distances TSPLIB defines for this edge weight type (tour lengths, optima)."""
    if edge_weight_type == "EUC_2D":
        return tsplib_nint_matrix(xy)
    if edge_weight_type == "ATT":
        return tsplib_att_matrix(xy)
    if edge_weight_type == "GEO":
        return tsplib_geo_matrix(xy)
    raise ValueError(f"unsupported EDGE_WEIGHT_TYPE {edge_weight_type!r}; supported: {', '.join(TSPLIB_TYPES)}")


def candidate_matrix(xy: np.ndarray, edge_weight_type: str) -> np.ndarray:
    """What the candidate sees on a TSPLIB instance: the instance's metric before rounding, at unit-square scale.
    EUC_2D and ATT (Euclidean / sqrt(10)): Euclidean distances of unit_square(xy); GEO: the great-circle
    distances divided by the largest of them."""
    if edge_weight_type in ("EUC_2D", "ATT"):
        return distances(unit_square(xy))
    if edge_weight_type == "GEO":
        d = geo_distances(xy)
        return d / (float(d.max()) or 1.0)
    raise ValueError(f"unsupported EDGE_WEIGHT_TYPE {edge_weight_type!r}; supported: {', '.join(TSPLIB_TYPES)}")


def unit_square(xy: np.ndarray) -> np.ndarray:
    """Shift to the origin and divide by the larger side of the bounding box (as ReEvo's TSPLIB test does)."""
    lo = xy.min(axis=0)
    span = float((xy.max(axis=0) - lo).max()) or 1.0
    return (xy - lo) / span


def read_tsplib_typed(path: str) -> tuple[np.ndarray, str]:
    """Coordinates (in node order) and EDGE_WEIGHT_TYPE of a TSPLIB file with a NODE_COORD_SECTION."""
    coords: list[tuple[float, float]] = []
    ewt = ""
    in_coords = False
    with open(path) as f:
        for line in f:
            s = line.strip()
            if not s:
                continue
            if not in_coords and s.split(":")[0].strip() == "EDGE_WEIGHT_TYPE":
                ewt = s.split(":", 1)[1].strip()
            elif s.startswith("NODE_COORD_SECTION"):
                in_coords = True
            elif s.startswith("EOF") or (in_coords and s[0].isalpha()):
                break
            elif in_coords:
                parts = s.split()
                coords.append((float(parts[1]), float(parts[2])))
    return np.asarray(coords, dtype=float), ewt


def read_tsplib(path: str) -> np.ndarray:
    """Coordinates of a TSPLIB file, in node order."""
    return read_tsplib_typed(path)[0]


def load_instances(instance_set: str, data_dir: str) -> dict[str, np.ndarray]:
    """instance id -> coordinates (n x 2). Random sets: unit square; tsplib: TSPLIB's own coordinates."""
    if instance_set in RANDOM_SETS:
        with np.load(os.path.join(data_dir, "instances.npz")) as z:
            arr = z[instance_set]
        return {f"{instance_set}_{i:02d}": arr[i] for i in range(arr.shape[0])}
    if instance_set == TSPLIB_SET:
        folder = os.path.join(data_dir, "tsplib")
        names = sorted(f[:-4] for f in os.listdir(folder) if f.endswith(".tsp"))
        return {name: read_tsplib(os.path.join(folder, name + ".tsp")) for name in names}
    raise ValueError(f"unknown instance set {instance_set!r}; known: {', '.join(RANDOM_SETS + (TSPLIB_SET,))}")


def _as_node(value, n: int):
    """The node index `value` stands for, or None if it is not an int-like."""
    if isinstance(value, (bool, np.bool_)):
        return None
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, np.ndarray) and value.size == 1 and np.issubdtype(value.dtype, np.integer):
        return int(value.reshape(()))
    return None


def construct(select_next_node, dist: np.ndarray, instance_id: str = "?") -> list[int]:
    """Build a tour from node 0 by calling the candidate n - 1 times; validate every answer."""
    n = dist.shape[0]
    start = 0
    tour = [start]
    visited = np.zeros(n, dtype=bool)
    visited[start] = True
    for step in range(1, n):
        current = tour[-1]
        unvisited = np.flatnonzero(~visited)
        got = select_next_node(current, start, unvisited, dist.copy())
        node = _as_node(got, n)
        where = f"instance {instance_id}, step {step} of {n - 1} (current_node={current}, {n - step} unvisited)"
        if node is None:
            shown = repr(got)
            if len(shown) > 80:
                shown = shown[:77] + "..."
            raise InvalidSolution(
                f"{where}: select_next_node returned {shown} of type {type(got).__name__}; "
                f"it must return one int, a node index taken from unvisited_nodes"
            )
        if not 0 <= node < n:
            raise InvalidSolution(
                f"{where}: select_next_node returned node {node}, out of range: nodes are 0..{n - 1} "
                f"and it must be one of unvisited_nodes"
            )
        if visited[node]:
            what = "already visited (it is the start/destination node)" if node == start else "already visited"
            # The commonest slip of small models: np.argmin over unvisited_nodes gives a position, not a node.
            hint = ""
            if node < len(unvisited):
                hint = (f"; {node} is a valid position in unvisited_nodes, so it may be an index into it "
                        f"(e.g. from np.argmin): return unvisited_nodes[{node}] instead")
            raise InvalidSolution(
                f"{where}: select_next_node returned node {node}, which is {what}; "
                f"it must be one of unvisited_nodes{hint}"
            )
        visited[node] = True
        tour.append(node)
    return tour


def tour_length(tour, dist: np.ndarray) -> float:
    t = np.asarray(tour)
    return float(dist[t, np.roll(t, -1)].sum())


@functools.lru_cache(maxsize=16)
def tsplib_types(data_dir: str) -> dict[str, str]:
    """instance id -> EDGE_WEIGHT_TYPE of the shipped TSPLIB files."""
    folder = os.path.join(data_dir, "tsplib")
    return {f[:-4]: read_tsplib_typed(os.path.join(folder, f))[1] for f in sorted(os.listdir(folder)) if f.endswith(".tsp")}


@functools.lru_cache(maxsize=16)
def _instances(instance_set: str, data_dir: str) -> dict[str, np.ndarray]:
    return load_instances(instance_set, data_dir)


@functools.lru_cache(maxsize=1)
def _all_optima(data_dir: str) -> dict[str, dict[str, float]]:
    with open(os.path.join(data_dir, "optima.json")) as f:
        return json.load(f)


def load_optima(instance_set: str, data_dir: str) -> dict[str, float]:
    return _all_optima(data_dir)[instance_set]


# ---- trusted side: the judge process (reads data/; never runs candidate code) --------------------------------

def public(instance_set: str, data_dir: str) -> dict:
    """What the candidate may see of each instance: its coordinates and metric, nothing of the optimum."""
    types = tsplib_types(data_dir) if instance_set == TSPLIB_SET else {}
    return {iid: {"id": iid, "xy": xy, "metric": types.get(iid, "unit_square")}
            for iid, xy in _instances(instance_set, data_dir).items()}


def _as_tour(value, n: int, iid: str) -> list[int]:
    arr = np.asarray(value)
    if arr.ndim != 1 or arr.shape[0] != n or not np.issubdtype(arr.dtype, np.integer):
        raise InvalidSolution(f"instance {iid}: the tour must be {n} node indices, got {arr.dtype} of shape {arr.shape}")
    tour = [int(x) for x in arr]
    if tour[0] != 0 or sorted(tour) != list(range(n)):
        raise InvalidSolution(f"instance {iid}: the tour is not a permutation of the {n} nodes starting at node 0")
    return tour


def score(instance_set: str, data_dir: str, outputs: dict) -> dict:
    """Re-check every tour and measure it with this side's own distances (TSPLIB: the integer metric)."""
    instances = _instances(instance_set, data_dir)
    optima = load_optima(instance_set, data_dir)
    types = tsplib_types(data_dir) if instance_set == TSPLIB_SET else {}
    results: dict[str, dict] = {}
    for iid, out in outputs.items():
        xy = instances[iid]
        tour = _as_tour(out, len(xy), iid)
        dist = tsplib_matrix(xy, types[iid]) if instance_set == TSPLIB_SET else distances(xy)
        length = tour_length(tour, dist)
        opt = float(optima[iid])
        results[iid] = {"score": 100.0 * (length - opt) / opt, "length": length, "optimal": opt}
    return {"instances": results, "score": float(np.mean([r["score"] for r in results.values()]))}


def hidden(instance_set: str, data_dir: str) -> list:
    """Every optimal length of every set: none may reach the LLM through candidate-side text."""
    return [float(v) for by_id in _all_optima(data_dir).values() for v in by_id.values()]


# ---- candidate side: inside the sandbox, with the candidate ------------------------------------------------

def run(candidate, data: dict) -> list[int]:
    select_next_node = getattr(candidate, "select_next_node", None)
    if not callable(select_next_node):
        raise InvalidSolution(
            "the candidate module defines no function "
            "`select_next_node(current_node, destination_node, unvisited_nodes, distance_matrix)`"
        )
    xy = np.asarray(data["xy"], dtype=float)
    dist = distances(xy) if data["metric"] == "unit_square" else candidate_matrix(xy, data["metric"])
    return construct(select_next_node, dist, data["id"])
