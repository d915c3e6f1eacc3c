"""Numeric tuning (discover/tuning*.py) on TSP, in-process: what the evaluator finds without an LLM.

Tunes a hand-written 3-weight scoring rule (distance from the current node, mean distance to the unvisited nodes,
distance to the start), the same rule with the start term's sign flipped, and the nearest-neighbour seed (no
constants) on train50, with budgets 20/40/80: CMA-ES and uniform random search side by side, signs kept as written
or free to change, several seeds. Screen = the first 16 of the 64 train50 instances, full = all
64. Candidate code is exec'd in this process (a trusted bench; the loop evaluates through the sandbox).
Reports train gap before/after (median over seeds), test50 gap of the tuned code, evaluations and wall time.

Usage: nice .venv/bin/python bench/tune_bench.py [--seeds 3] [--budgets 20,40,80] [--sandbox]
(--sandbox: the same tuning through the sandboxed Evaluator, the way the loop will run it.)
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import statistics
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from discover.tuning import lift_constants
from discover.tuning_search import tune

TSP = ROOT / "problems" / "tsp"
SCREEN_INSTANCES = 16

# Written the way the small model writes heuristics: three weights picked by feel.
WEIGHTED_RULE = '''import numpy as np


def select_next_node(current_node, destination_node, unvisited_nodes, distance_matrix):
    """Weigh closeness now against leaving isolated nodes and drifting away from the start."""
    d_current = distance_matrix[current_node, unvisited_nodes]
    d_mean = distance_matrix[np.ix_(unvisited_nodes, unvisited_nodes)].mean(axis=1)
    d_start = distance_matrix[destination_node, unvisited_nodes]
    score = 0.5 * d_current - 0.3 * d_mean + 0.2 * d_start
    return int(unvisited_nodes[np.argmin(score)])
'''
# The same rule with the start term's sign the other way: what a correct guess of the sign would have given.
FLIPPED_RULE = WEIGHTED_RULE.replace("+ 0.2 * d_start", "- 0.2 * d_start")
SIGNATURE = "def select_next_node(current_node, destination_node, unvisited_nodes, distance_matrix):"


def load_tsp_module():
    spec = importlib.util.spec_from_file_location("tsp_evaluate", TSP / "evaluate.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class InProcessTSP:
    """Mean gap % of code on a set, with problems/tsp/evaluate.py's own construct and tour_length."""

    def __init__(self) -> None:
        self.ev = load_tsp_module()
        self.sets = {}
        for name in ("train50", "test50"):
            inst = self.ev.load_instances(name, str(TSP / "data"))
            optima = self.ev.load_optima(name, str(TSP / "data"))
            self.sets[name] = [(iid, self.ev.distances(xy), float(optima[iid])) for iid, xy in inst.items()]
        self.sets["screen"] = self.sets["train50"][:SCREEN_INSTANCES]

    def gap(self, code: str, set_name: str) -> float | None:
        namespace: dict = {}
        try:
            exec(compile(code, "<candidate>", "exec"), namespace)
            fn = namespace["select_next_node"]
            gaps = []
            for iid, dist, opt in self.sets[set_name]:
                tour = self.ev.construct(fn, dist, iid)
                gaps.append(100.0 * (self.ev.tour_length(tour, dist) - opt) / opt)
        except Exception:  # an invalid or crashing candidate is a failed evaluation, as in the sandbox
            return None
        return float(np.mean(gaps))


async def run_one(tsp: InProcessTSP, code: str, budget: int, seed: int, method: str, signs: str) -> dict:
    template = lift_constants(code, SIGNATURE)
    calls = {"screen": 0, "full": 0}

    async def objective(values, fidelity):
        calls[fidelity] += 1
        return tsp.gap(template.render(values), "screen" if fidelity == "screen" else "train50")

    before = tsp.gap(code, "train50")  # the loop knows a candidate's train score: passed in, not re-paid
    t = time.perf_counter()
    result = await tune(template, objective, budget=budget, seed=seed, method=method, signs=signs,
                        original_score=before)
    wall = time.perf_counter() - t
    return {
        "params": len(template),
        "before": before,
        "after": result.best_score,
        "test50_before": tsp.gap(code, "test50"),
        "test50_after": tsp.gap(result.best_code, "test50"),
        "calls": calls,
        "wall": wall,
        "values": result.best_values,
    }


def through_the_sandbox(budgets: list[int], seeds: int) -> None:
    """The loop's path: the sandboxed Evaluator, screen = every 4th train instance id, the adapter of
    docs/tuning.md, signs free, concurrency = the evaluator's workers."""
    from discover.evaluation import open_evaluator, outcome_from
    from discover.problem import load_problem

    problem = load_problem("tsp")
    train = problem.spec.splits.train
    with open_evaluator(problem) as evaluator:
        async def one(budget: int, seed: int) -> tuple[float, float | None, float, int]:
            first = await evaluator.evaluate(WEIGHTED_RULE, train, split="train")
            screen_ids = {s: sorted(r.instances)[::4] for s, r in zip(train, first)}
            template = lift_constants(WEIGHTED_RULE, problem.spec.entry.signature)

            async def objective(values, fidelity):
                results = await evaluator.evaluate(template.render(values), train, split="train",
                                                   instance_ids=screen_ids if fidelity == "screen" else None)
                outcome = outcome_from(train, results)
                if outcome.status != "ok" or outcome.score is None:
                    return None
                return outcome.score if problem.minimize else -outcome.score

            t = time.perf_counter()
            result = await tune(template, objective, budget=budget, seed=seed, signs="free",
                                concurrency=evaluator.capacity, original_score=first[0].score)
            return first[0].score, result.best_score, time.perf_counter() - t, result.evaluations_called

        print(f"through the {evaluator.backend} sandbox, {evaluator.capacity} workers, signs free, cma:")
        for budget in budgets:
            for seed in range(seeds):
                before, after, wall, calls = asyncio.run(one(budget, seed))
                print(f"  budget {budget:>3} seed {seed}: train50 {before:.2f} -> {after:.2f} %, "
                      f"{calls} evaluations, {wall:.1f} s")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--budgets", default="20,40,80")
    ap.add_argument("--sandbox", action="store_true", help="tune through the sandboxed Evaluator instead")
    args = ap.parse_args()
    budgets = [int(b) for b in args.budgets.split(",")]
    if args.sandbox:
        through_the_sandbox(budgets, args.seeds)
        return
    tsp = InProcessTSP()
    seed_code = (TSP / "seed.py").read_text()
    asyncio.run(run_one(tsp, WEIGHTED_RULE, 3, 0, "cma", "keep"))  # pays the one-time cma import (~4 s, scipy.stats)

    for label, code in (("weighted rule", WEIGHTED_RULE), ("NN seed", seed_code)):
        for set_name in ("train50", "screen"):
            t = time.perf_counter()
            for _ in range(5):
                tsp.gap(code, set_name)
            print(f"{label}: one {set_name} evaluation in-process {1000 * (time.perf_counter() - t) / 5:.0f} ms")
    print(f"weighted rule as written: train50 {tsp.gap(WEIGHTED_RULE, 'train50'):.2f} %, "
          f"test50 {tsp.gap(WEIGHTED_RULE, 'test50'):.2f} %; with the start term's sign flipped: train50 "
          f"{tsp.gap(FLIPPED_RULE, 'train50'):.2f} %, test50 {tsp.gap(FLIPPED_RULE, 'test50'):.2f} %")

    print(f"\nmedians over {args.seeds} seeds; train = full train50 (the tuning's own objective), test50 = held out")
    print(f"{'code':<16}{'signs':<6}{'method':<8}{'budget':>7}{'params':>7}{'train':>8}{'-> tuned':>9}"
          f"{'test50':>8}{'-> tuned':>9}{'screen+full':>12}{'wall s':>8}")
    configs = [("weighted rule", WEIGHTED_RULE, m, sg) for sg in ("keep", "free") for m in ("cma", "random")]
    configs += [("rule, -start", FLIPPED_RULE, "cma", sg) for sg in ("keep", "free")]
    configs += [("NN seed", seed_code, "cma", "keep")]
    for label, code, method, signs in configs:
        for budget in budgets:
            runs = [asyncio.run(run_one(tsp, code, budget, seed, method, signs)) for seed in range(args.seeds)]

            def med(key: str, runs: list[dict] = runs) -> float:
                return statistics.median(r[key] for r in runs)

            calls = runs[0]["calls"]
            print(f"{label:<16}{signs:<6}{method:<8}{budget:>7}{runs[0]['params']:>7}{med('before'):>8.2f}"
                  f"{med('after'):>9.2f}{med('test50_before'):>8.2f}{med('test50_after'):>9.2f}"
                  f"{calls['screen']:>6}+{calls['full']:<5}{med('wall'):>8.2f}", flush=True)
            if runs[0]["params"] == 0:
                break  # nothing to tune: one budget says it all
        if method == "cma" and label != "NN seed":
            print(f"{'':<16}best values at budget {budgets[-1]}, per seed: {[r['values'] for r in runs]}")


if __name__ == "__main__":
    main()
