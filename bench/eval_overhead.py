"""Evaluation time before/after the trust split, side by side.

    python bench/eval_overhead.py                      # this checkout: per-backend table
    python bench/eval_overhead.py --ab /path/to/old    # alternate this checkout and an older one (a git worktree
                                                       # of the commit before the split), 5 rounds, medians

What is timed, per backend, through the warm worker pool (workers started and warmed first):
  tsp   the seed (nearest neighbour) on train50: 64 instances x 49 candidate calls, one evaluation
  toy   a trivial candidate on the 3-instance toy problem: the fixed cost of one evaluation
The old code exec'd the candidate and the scorer in one forked process; the new one runs the candidate side in
the sandbox and scores in a separate judge process (payload out, outputs back, one more process hop).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
import warnings
from pathlib import Path

N = 15


def measure(root: Path, backends: list[str], n: int) -> dict:
    sys.path.insert(0, str(root))
    warnings.simplefilter("ignore")
    import asyncio

    from discover.problem import load_problem
    from discover.sandbox import available_backends, open_sandbox

    tsp = load_problem("tsp")
    toy = load_problem(str(root / "tests" / "fixtures" / "problems" / "toy"))
    toy_code = "def solve(x):\n    return 2 * x\n"
    out: dict = {}
    new = (root / "discover" / "judge.py").exists()
    for b in backends:
        if available_backends().get(b):
            continue
        sb = open_sandbox(b, workers=1)
        times: dict[str, list[float]] = {"tsp": [], "toy": []}
        if new:
            from discover.evaluation import Evaluator
            from discover.executors.local import LocalExecutor

            evs = {"tsp": Evaluator(tsp, LocalExecutor(sb)), "toy": Evaluator(toy, LocalExecutor(sb))}
            loop = asyncio.new_event_loop()  # one loop, as in a run

            def one(kind: str) -> float:
                code, sets = (tsp.seed_code, ["train50"]) if kind == "tsp" else (toy_code, ["train"])
                t = time.perf_counter()
                r = loop.run_until_complete(evs[kind].evaluate(code, sets))[0]
                assert r.status == "ok", r
                return time.perf_counter() - t
        else:
            from discover.sandbox import EvalRequest

            def one(kind: str) -> float:
                p, code, s = (tsp, tsp.seed_code, "train50") if kind == "tsp" else (toy, toy_code, "train")
                req = EvalRequest(code=code, problem_dir=p.root, instance_set=s, timeout_s=30, memory_mb=1024)
                t = time.perf_counter()
                r = sb.evaluate(req)
                assert r.status == "ok", r
                return time.perf_counter() - t
        for kind in ("tsp", "toy"):
            one(kind)  # warm: worker start, judge start, payload cache
        for _ in range(n):
            for kind in ("tsp", "toy"):
                times[kind].append(one(kind))
        out[b] = {k: statistics.median(v) for k, v in times.items()}
        if new:
            for e in evs.values():
                e.judge.close()
        sb.close()
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--ab", type=Path, help="an older checkout to compare with (e.g. a git worktree)")
    ap.add_argument("--backends", default="process,bwrap,docker")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--child", type=Path, help=argparse.SUPPRESS)
    args = ap.parse_args()
    backends = args.backends.split(",")
    if args.child:
        print(json.dumps(measure(args.child, backends, N)))
        return
    here = Path(__file__).resolve().parents[1]
    trees = {"after": here} | ({"before": args.ab.resolve()} if args.ab else {})
    runs: dict[str, list[dict]] = {k: [] for k in trees}
    for _ in range(args.rounds if args.ab else 1):
        for name, tree in trees.items():  # alternate, so both see the same machine load
            env = {**os.environ, "PYTHONPATH": str(tree)}
            r = subprocess.run([sys.executable, str(here / "bench" / "eval_overhead.py"), "--child", str(tree),
                                "--backends", args.backends], capture_output=True, text=True, env=env, cwd=tree)
            if r.returncode != 0:
                sys.exit(f"{name}: {r.stderr.strip().splitlines()[-1] if r.stderr.strip() else r.returncode}")
            runs[name].append(json.loads(r.stdout.strip().splitlines()[-1]))
    print(f"# {platform.node()} {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
          f"{time.strftime('%Y-%m-%d %H:%M %Z')}, load {os.getloadavg()[0]:.1f}; medians of {N} evaluations per round, "
          f"median over {len(runs['after'])} round(s)")
    print("| backend | TSP train50 seed, after (ms) | before (ms) | after/before | toy eval, after (ms) | before (ms) | after/before |")
    print("|---|---|---|---|---|---|---|")
    for b in backends:
        def med(name: str, kind: str) -> float | None:
            vals = [r[b][kind] for r in runs.get(name, []) if b in r]
            return statistics.median(vals) * 1e3 if vals else None

        a_t, b_t, a_y, b_y = med("after", "tsp"), med("before", "tsp"), med("after", "toy"), med("before", "toy")
        if a_t is None:
            continue
        fmt = lambda x: "—" if x is None else f"{x:.1f}"  # noqa: E731
        ratio = lambda a, c: "—" if (a is None or c is None) else f"{a / c:.2f}"  # noqa: E731
        print(f"| {b} | {fmt(a_t)} | {fmt(b_t)} | {ratio(a_t, b_t)} | {fmt(a_y)} | {fmt(b_y)} | {ratio(a_y, b_y)} |")


if __name__ == "__main__":
    main()
