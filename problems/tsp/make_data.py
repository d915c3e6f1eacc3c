"""Build problems/tsp/data/ once: instances, optimal tour lengths, baseline gaps. Not needed at run time.

    nice .venv/bin/python problems/tsp/make_data.py          # needs `pip install elkai` (LKH-3)
    nice .venv/bin/python problems/tsp/make_data.py --baselines-only   # keep data/, redo the baselines
    nice .venv/bin/python problems/tsp/make_data.py --tsplib-only      # keep the random sets, redo tsplib + baselines

Writes
  data/instances.npz   train50 (64 x 50 x 2), test20/50/100/200 (64 x n x 2), float64 unit-square coordinates
  data/tsplib/*.tsp    the symmetric TSPLIB instances of type EUC_2D, ATT or GEO with at most 300 nodes (copied unchanged)
  data/optima.json     {set: {instance id: optimal length}}
  data/baselines.json  {heuristic: {set: mean gap %}}  (copy these into problem.toml [baselines])

Random instances. The test sets reproduce ReEvo's generator (Ye et al., NeurIPS 2024; ai4co/reevo,
problems/tsp_constructive/gen_inst.py, re-implemented from reading it): numpy's legacy global RNG seeded with
1234 draws, in this order, rand(64, 50, 2) for train50, rand(64, n, 2) for val n = 20, 50, 100, 200, then
rand(64, n, 2) for test n = 20, 50, 100, 200. We keep only the test draws. Our train50 is drawn from its own
RandomState(TRAIN_SEED) so that it differs from every ReEvo set.

Optimal lengths of random instances: LKH-3 through `elkai` on the distance matrix scaled by 1e6 and by 1e7
and rounded to integers (LKH works on integers), 10 runs each; each tour is measured with the float
distances and the shorter one kept (one LKH call alone misses the optimum on a few instances, e.g. test50_16
by 0.26 %; an exact MILP check of test20/50/100 is described in README.md).
TSPLIB: the proven optimal lengths from the `solutions` file (Reinelt 1991); the script checks that LKH finds
the same length on every instance with TSPLIB's integer distances of the instance's type (evaluate.tsplib_matrix).
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shutil
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
DATA = HERE / "data"
TSPLIB_SRC = Path(os.environ.get("TSPLIB_DIR", "/work/shared/data/tsp/tsplib"))
TRAIN_SEED = 20250050
REEVO_SEED = 1234
N_INSTANCES = 64
TEST_SIZES = (20, 50, 100, 200)
TSPLIB_MAX_NODES = 300
LKH_SCALES = (10**6, 10**7)
LKH_RUNS = 10


def _load(path: Path, name: str):
    spec = importlib.util.spec_from_file_location(name, path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


ev = _load(HERE / "evaluate.py", "tsp_evaluate")


def random_instances() -> dict[str, np.ndarray]:
    rng = np.random.RandomState(REEVO_SEED)  # the same stream as np.random.seed(1234) + np.random.rand
    rng.rand(N_INSTANCES, 50, 2)  # ReEvo's train50 (skipped)
    for n in TEST_SIZES:
        rng.rand(N_INSTANCES, n, 2)  # ReEvo's val sets (skipped)
    sets = {f"test{n}": rng.rand(N_INSTANCES, n, 2) for n in TEST_SIZES}
    sets = {"train50": np.random.RandomState(TRAIN_SEED).rand(N_INSTANCES, 50, 2), **sets}
    return sets


def lkh_tour(int_matrix: np.ndarray, runs: int = LKH_RUNS) -> list[int]:
    import elkai

    tour = list(elkai.DistanceMatrix(int_matrix.astype(int).tolist()).solve_tsp(runs=runs))
    if len(tour) == len(int_matrix) + 1 and tour[0] == tour[-1]:
        tour = tour[:-1]
    assert sorted(tour) == list(range(len(int_matrix))), "elkai returned no permutation"
    return tour


def farthest_insertion(dist: np.ndarray) -> list[int]:
    """Farthest insertion (Rosenkrantz, Stearns & Lewis 1977): start with the two nodes farthest apart, then
    repeatedly take the node farthest from the partial tour (max over nodes of the distance to the nearest tour
    node; first on ties) and insert it where it lengthens the tour least. This start rule reproduces ReEvo's
    published FI gaps 2.8 / 5.6 / 7.4 / 9.4 % (starting from node 0 alone gives 2.7 / 5.8 / 7.8 / 9.2 %)."""
    n = dist.shape[0]
    i, j = (int(x) for x in np.unravel_index(np.argmax(dist), dist.shape))
    tour = [i, j]
    in_tour = np.zeros(n, dtype=bool)
    in_tour[tour] = True
    near = np.minimum(dist[i], dist[j])
    for _ in range(n - 2):
        cand = np.where(in_tour, -np.inf, near)
        k = int(np.argmax(cand))
        t = np.asarray(tour)
        nxt = np.roll(t, -1)
        delta = dist[t, k] + dist[k, nxt] - dist[t, nxt]
        pos = int(np.argmin(delta))
        tour.insert(pos + 1, k)
        in_tour[k] = True
        near = np.minimum(near, dist[k])
    return tour


def tsplib_files() -> dict[str, Path]:
    out = {}
    for p in sorted(TSPLIB_SRC.glob("*.tsp")):
        head = p.read_text(errors="replace")[:2000]
        dim = re.search(r"DIMENSION\s*:\s*(\d+)", head)
        ewt = re.search(r"EDGE_WEIGHT_TYPE\s*:\s*(\S+)", head)
        if dim and ewt and ewt.group(1) in ev.TSPLIB_TYPES and int(dim.group(1)) <= TSPLIB_MAX_NODES:
            out[p.stem] = p
    return out


def tsplib_solutions() -> dict[str, int]:
    sol = {}
    for line in (TSPLIB_SRC / "solutions").read_text().splitlines():
        m = re.match(r"\s*(\S+)\s*:\s*(\d+)", line)
        if m:
            sol[m.group(1)] = int(m.group(2))
    return sol


def main(baselines_only: bool = False, tsplib_only: bool = False) -> None:
    DATA.mkdir(exist_ok=True)
    sets = random_instances()
    if baselines_only:  # reuse data/ (instances and optima), recompute only the baselines
        optima = json.loads((DATA / "optima.json").read_text())
        write_baselines(sets, optima)
        return
    if tsplib_only:  # reuse the random sets and their optima
        optima = json.loads((DATA / "optima.json").read_text())
        optima["tsplib"] = make_tsplib()
        (DATA / "optima.json").write_text(json.dumps(optima, indent=0, sort_keys=True) + "\n")
        write_baselines(sets, optima)
        return
    npz = DATA / "instances.npz"
    if npz.exists():  # keep the file (and git) unchanged when the arrays are the same
        with np.load(npz) as z:
            same = set(z.files) == set(sets) and all(np.array_equal(z[k], v) for k, v in sets.items())
    if not npz.exists() or not same:
        np.savez_compressed(npz, **sets)

    optima: dict[str, dict[str, float]] = {}
    for s in sets:
        inst = ev.load_instances(s, str(DATA))
        t0 = time.time()
        optima[s] = {}
        for iid, xy in inst.items():
            d = ev.distances(xy)
            best = min(ev.tour_length(lkh_tour(np.rint(d * scale)), d) for scale in LKH_SCALES)
            optima[s][iid] = round(best, 10)
        print(f"{s}: mean optimal length {np.mean(list(optima[s].values())):.4f} ({time.time() - t0:.1f} s)")

    optima["tsplib"] = make_tsplib()
    (DATA / "optima.json").write_text(json.dumps(optima, indent=0, sort_keys=True) + "\n")
    write_baselines(sets, optima)


def make_tsplib() -> dict[str, int]:
    """Copy the selected TSPLIB files into data/tsplib/ and return their optima, each checked with LKH."""
    tsp_dir = DATA / "tsplib"
    if tsp_dir.exists():
        shutil.rmtree(tsp_dir)
    tsp_dir.mkdir()
    for p in tsplib_files().values():
        shutil.copyfile(p, tsp_dir / p.name)
    sol = tsplib_solutions()
    types = ev.tsplib_types(str(DATA))
    out, bad = {}, 0
    for iid, xy in ev.load_instances("tsplib", str(DATA)).items():
        d = ev.tsplib_matrix(xy, types[iid])
        lkh = ev.tour_length(lkh_tour(d), d)
        if int(lkh) != sol[iid]:
            bad += 1
            print(f"WARNING {iid} ({types[iid]}): LKH {lkh} != TSPLIB optimum {sol[iid]}", file=sys.stderr)
        out[iid] = sol[iid]
    counts = {t: list(types.values()).count(t) for t in ev.TSPLIB_TYPES}
    print(f"tsplib: {len(out)} instances {counts}; LKH reaches the solutions file's optimum on {len(out) - bad}")
    return out


def write_baselines(sets: dict, optima: dict) -> None:
    seed = _load(HERE / "seed.py", "tsp_seed")
    baselines: dict[str, dict[str, float]] = {"nearest_neighbour": {}, "farthest_insertion": {}}
    for s in list(sets) + ["tsplib"]:
        t0 = time.time()
        r = ev.evaluate(seed, s, str(DATA))
        dt = time.time() - t0
        baselines["nearest_neighbour"][s] = round(r["score"], 4)
        gaps = []
        types = ev.tsplib_types(str(DATA)) if s == "tsplib" else {}
        for iid, xy in ev.load_instances(s, str(DATA)).items():
            if s == "tsplib":
                tour = farthest_insertion(ev.candidate_matrix(xy, types[iid]))
                length = ev.tour_length(tour, ev.tsplib_matrix(xy, types[iid]))
            else:
                d = ev.distances(xy)
                length = ev.tour_length(farthest_insertion(d), d)
            gaps.append(100 * (length - optima[s][iid]) / optima[s][iid])
        baselines["farthest_insertion"][s] = round(float(np.mean(gaps)), 4)
        print(f"{s}: NN {r['score']:.2f} % ({dt:.2f} s to evaluate the seed), FI {np.mean(gaps):.2f} %")
    (DATA / "baselines.json").write_text(json.dumps(baselines, indent=1) + "\n")
    for h, v in baselines.items():
        print(f"{h} = {{ " + ", ".join(f"{k} = {x}" for k, x in v.items()) + " }")


if __name__ == "__main__":
    main(baselines_only="--baselines-only" in sys.argv[1:], tsplib_only="--tsplib-only" in sys.argv[1:])
