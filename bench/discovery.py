"""Does the main job discover? Runs `discover evolve` as a user would and reads the outcome from its store.

    python bench/discovery.py                              # the default run (no flags), seeds 0 1 2
    python bench/discovery.py --timeout 1800 --seeds 0     # the 30-minute budget
    python bench/discovery.py --problem binpack --timeout 1800
    python bench/discovery.py --from-store runs/           # only print the table for runs already in a store

Prints one row per run and mean/spread per column: wall, LLM calls, proposals (LLM answers turned into
candidates), valid share of them, proposals per minute, duplicates, tune evaluations, best train, and the best
candidate's held-out score per test set; then the problem's baselines (nearest neighbour, farthest insertion,
ReEvo, ...). Selection never sees the test sets: they are scored once, after the search.
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
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def run_one(problem: str, seed: int, timeout: float | None, runs_dir: Path, extra: list[str]) -> float:
    cmd = [sys.executable, "-m", "discover", "evolve", "--problem", problem, "--runs-dir", str(runs_dir)]
    if seed:
        cmd += ["--seed", str(seed)]
    if timeout:
        cmd += ["--timeout", str(timeout)]
    t = time.monotonic()
    with open(runs_dir / f"log-seed{seed}.txt", "w") as log:
        subprocess.run(cmd + extra, stdout=log, stderr=subprocess.STDOUT, cwd=ROOT)
    return time.monotonic() - t


def summarise(runs_dir: Path) -> list[dict]:
    from discover.problem import load_problem
    from discover.review.best import best_candidate
    from discover.store import Store

    store = Store(runs_dir, create=False)
    rows = []
    for run in store.list_runs():
        cands = store.candidates(run.id)
        llm = [c for c in cands if c.operator not in ("seed", "start", "tune")]
        valid = [c for c in llm if c.valid]
        calls = list(store.llm_calls(run.id))
        paid = [c for c in calls if not c["cached"] and c["error"] is None]
        t0 = run.created_at
        wall = run.updated_at - t0
        tune_evals = sum(len((c.meta or {}).get("tuning", {}).get("known") or []) for c in cands)
        problem = load_problem(run.problem_dir)
        best = best_candidate(cands, minimize=problem.minimize)
        test = {}
        if best is not None:
            for e in store.evaluations(best.id, "test"):
                if e.status == "ok":
                    test[e.instance_set] = e.score
        seeds = [c for c in cands if c.operator == "seed"]
        rows.append({
            "run": run.id, "seed": run.config.get("seed"), "status": run.status, "wall_s": wall,
            "llm_calls": len(paid), "proposals": len(llm), "valid": len(valid),
            "valid_share": len(valid) / len(llm) if llm else None,
            "proposals_per_min": len(llm) / (wall / 60) if wall > 0 else None,
            "duplicates": sum(c.status == "duplicate" for c in llm), "tune_evals": tune_evals,
            "tuned_children": sum(c.operator == "tune" for c in cands),
            "best": best.id if best else None, "best_operator": best.operator if best else None,
            "best_train": best.train_score if best else None,
            "seed_train": min((c.train_score for c in seeds if c.valid), default=None),
            "test": test, "test_sets": problem.spec.splits.test, "baselines": problem.spec.baselines,
            "problem": problem.name,
        })
    return rows


def fmt(x, digits=2) -> str:
    return "—" if x is None else (f"{x:.{digits}f}" if isinstance(x, float) else str(x))


def table(rows: list[dict]) -> str:
    if not rows:
        return "(no runs)"
    sets = rows[0]["test_sets"]
    head = ["run", "seed", "wall s", "LLM calls", "proposals", "valid %", "prop/min", "dupes", "tune evals",
            "best (op)", "best train"] + sets
    out = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        out.append("| " + " | ".join([
            r["run"][-10:], fmt(r["seed"]), fmt(r["wall_s"], 0), fmt(r["llm_calls"]), fmt(r["proposals"]),
            fmt(100 * r["valid_share"], 0) if r["valid_share"] is not None else "—", fmt(r["proposals_per_min"], 1),
            fmt(r["duplicates"]), fmt(r["tune_evals"]), f"{r['best_operator']}", fmt(r["best_train"])]
            + [fmt(r["test"].get(s)) for s in sets]) + " |")
    if len(rows) > 1:
        def ms(vals):
            vals = [v for v in vals if v is not None]
            if not vals:
                return "—"
            return f"{statistics.mean(vals):.2f} ± {statistics.pstdev(vals):.2f}"

        out.append("| mean ± sd | | " + " | ".join([
            ms([r["wall_s"] for r in rows]), ms([r["llm_calls"] for r in rows]), ms([r["proposals"] for r in rows]),
            ms([100 * r["valid_share"] for r in rows if r["valid_share"] is not None]),
            ms([r["proposals_per_min"] for r in rows]), ms([r["duplicates"] for r in rows]),
            ms([r["tune_evals"] for r in rows]), "", ms([r["best_train"] for r in rows])]
            + [ms([r["test"].get(s) for r in rows]) for s in sets]) + " |")
    for name, by_set in rows[0]["baselines"].items():
        train = next((v for k, v in by_set.items() if k not in sets), None)  # its score on the train set
        out.append("| " + " | ".join([f"*{name}*"] + [""] * 9 + [fmt(train)] + [fmt(by_set.get(s)) for s in sets]) + " |")
    return "\n".join(out)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--problem", default="tsp")
    ap.add_argument("--seeds", default="0,1,2")
    ap.add_argument("--timeout", type=float, default=None, help="--timeout for each run (default: none, the defaults)")
    ap.add_argument("--runs-dir", type=Path, default=None)
    ap.add_argument("--from-store", type=Path, default=None)
    ap.add_argument("extra", nargs="*", help="more flags for discover evolve (after --)")
    args = ap.parse_args()
    runs_dir = args.from_store or args.runs_dir or ROOT / "runs" / f"bench-discovery-{args.problem}-{int(time.time())}"
    runs_dir.mkdir(parents=True, exist_ok=True)
    if args.from_store is None:
        for s in [int(x) for x in args.seeds.split(",") if x != ""]:
            wall = run_one(args.problem, s, args.timeout, runs_dir, args.extra)
            print(f"seed {s}: {wall:.0f} s", flush=True)
    rows = summarise(runs_dir)
    print(f"# {platform.node()} {platform.machine()}, {os.cpu_count()} cores, {time.strftime('%Y-%m-%d %H:%M %Z')}, "
          f"load {os.getloadavg()[0]:.1f}; store {runs_dir}")
    print(table(rows))
    (runs_dir / "summary.json").write_text(json.dumps(rows, indent=1, default=str))


if __name__ == "__main__":
    main()
