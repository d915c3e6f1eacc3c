"""Prompt search vs OPRO at equal task-model calls (issue 19), through the product path (the real gateway, the run
store, the embedded model as task model and optimizer).

    python bench/prompt_search.py                               # larger_animal, sum, sports_understanding
    python bench/prompt_search.py --tasks sum --task-calls 120 --seeds 0 1 2

For each task: the start instruction (a hand-written one-liner), today's OPRO search (`strategy = "opro"`, ranked
archive) and the new search (`strategy = "reflective"`, Pareto archive: reflection, merge, demo search), each with
its own runs dir (no answer is shared between methods through the cache) and the same `max_task_calls` (the start's
own train evaluation included; held-out scoring not counted). Held-out accuracy is of the candidate with the best
train accuracy. For larger_animal, a few more hand-written one-line instructions are scored on the same split
(`--handwritten`). `--methods gepa` runs GEPA itself (bench/gepa_baseline.py) at max_metric_calls = the same budget.
Prints a markdown table."""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from discover.prompting import run_prompt_job  # noqa: E402
from discover.store import Store  # noqa: E402

MODEL = "local/qwen2.5-coder-0.5b"
START = {
    "larger_animal": "Output the larger animal.",
    "sum": "Add the two numbers.",
    "sports_understanding": "Is this sentence plausible? Answer yes or no.",
    "navigate": "Do you return to the starting point? Answer Yes or No.",
}
SCORER = {"sports_understanding": "label", "navigate": "label"}
HANDWRITTEN = {  # the start instruction is scored by every run; these are the other one-liners tried
    "larger_animal": ["Answer with the name of the larger animal only.", "Name the larger of the two animals, in one word."],
}
METHODS = {"opro": dict(strategy="opro", archive="ranked"), "reflective": dict(strategy="reflective", archive="pareto")}


SIZES = dict(max_train=20, max_test=30, minibatch=10)


def job(task: str, seed: int, start: str, task_calls: int, **extra) -> dict:
    cfg = dict(task=task, start=start, **SIZES, seed=seed, task_model=MODEL, optimizer_model=MODEL, steps=200,
               candidates_per_step=3, test_top_k=1, max_task_calls=task_calls, llm_concurrency=4)
    if task in SCORER:
        cfg["scorer"] = SCORER[task]
    cfg.update(extra)
    runs = Path(tempfile.mkdtemp(prefix=f"ps-{task}-"))
    t0 = time.monotonic()
    s = run_prompt_job(cfg, runs_dir=runs)
    wall = time.monotonic() - t0
    rows = [r for r in Store(runs).llm_calls(s.run_id) if not r["cached"] and r["error"] is None]
    by_role = {role: sum(1 for r in rows if r["role"] == role) for role in ("task", "optimizer")}
    return dict(start_test=s.test_scores.get(s.start.id) if s.start else None,
                best_test=s.test_scores.get(s.best.id) if s.best else None, best_train=s.best.train_score if s.best else None,
                best=s.best.code if s.best else "", operator=s.best.operator if s.best else "", calls=by_role,
                optimizer_calls=by_role["optimizer"], stop=s.stop_reason, wall_s=wall, run_id=s.run_id, runs=str(runs))


def median(rows: list[dict], key: str):
    vals = [r[key] for r in rows if r[key] is not None]
    return statistics.median(vals) if vals else None


def pct(x) -> str:
    return "—" if x is None else f"{100 * x:.1f}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--tasks", nargs="+", default=["larger_animal", "sum", "sports_understanding"])
    ap.add_argument("--task-calls", type=int, default=200)
    ap.add_argument("--seeds", nargs="+", type=int, default=[0])
    ap.add_argument("--handwritten", action="store_true", help="score HANDWRITTEN instructions too (larger_animal)")
    ap.add_argument("--train", type=int, default=20)
    ap.add_argument("--test", type=int, default=30)
    ap.add_argument("--minibatch", type=int, default=10)
    ap.add_argument("--methods", nargs="+", default=list(METHODS), choices=[*METHODS, "gepa"],
                    help="gepa: GEPA itself (needs `pip install gepa`, e.g. --target DIR and PYTHONPATH=DIR)")
    args = ap.parse_args()
    SIZES.update(max_train=args.train, max_test=args.test, minibatch=args.minibatch)
    print(f"# {platform.node()} {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
          f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; task model = optimizer = {MODEL}; "
          f"{args.train} train / {args.test} test, minibatch {args.minibatch}; max_task_calls {args.task_calls}", flush=True)
    results: dict[tuple[str, str], list[dict]] = {}
    for task in args.tasks:
        if args.handwritten and task in HANDWRITTEN:
            for text in HANDWRITTEN[task]:
                # the start alone: its train calls spend the budget, then it is scored on the test split
                r = job(task, args.seeds[0], text, args.train, strategy="reflective", archive="pareto")
                print(f"handwritten {task}: {text!r}: train {pct(r['best_train'])} test {pct(r['start_test'])}", flush=True)
        for seed in args.seeds:
            for name in args.methods:
                if name == "gepa":
                    from bench.gepa_baseline import run_gepa

                    g = run_gepa(task, start=START[task], task_calls=args.task_calls, max_train=args.train,
                                 max_test=args.test, seed=seed, scorer_spec=SCORER.get(task))
                    r = dict(start_test=g["start_test"], best_test=g["best_test"], best_train=None, best=g["best"],
                             operator="gepa", calls={"task": g["search_calls"]["task"],
                                                     "optimizer": g["search_calls"]["reflection"]},
                             optimizer_calls=g["search_calls"]["reflection"], stop="max_metric_calls",
                             wall_s=g["wall_s"])
                    results.setdefault((task, name), []).append(r)
                    print(f"{task} seed {seed} gepa: start {pct(r['start_test'])} -> best {pct(r['best_test'])} test "
                          f"({g['candidates']} candidates: {r['best'][:160]!r}); search calls {r['calls']}; "
                          f"{r['wall_s']:.0f} s", flush=True)
                    continue
                extra = METHODS[name]
                r = job(task, seed, START[task], args.task_calls, **extra)
                results.setdefault((task, name), []).append(r)
                print(f"{task} seed {seed} {name}: start {pct(r['start_test'])} -> best {pct(r['best_test'])} test "
                      f"(train {pct(r['best_train'])}; {r['operator']}: {r['best'][:160]!r}); paid calls {r['calls']}; "
                      f"{r['wall_s']:.0f} s; {r['stop']}", flush=True)
    print("\n| task | start (held-out %) | OPRO | reflective + pareto | GEPA | task calls (search) | optimizer calls "
          "OPRO / new / GEPA |")
    print("|---|---|---|---|---|---|---|")
    for task in args.tasks:
        o, n, g = (results.get((task, m), []) for m in ("opro", "reflective", "gepa"))
        print(f"| {task} | {pct(median(o or n, 'start_test'))} | {pct(median(o, 'best_test'))} | {pct(median(n, 'best_test'))}"
              f" | {pct(median(g, 'best_test'))} | {args.task_calls} | {median(o, 'optimizer_calls')} / "
              f"{median(n, 'optimizer_calls')} / {median(g, 'optimizer_calls')} |")


if __name__ == "__main__":
    main()
