"""The local sandbox pool vs the Ray executor on this machine, and what the driver can absorb.

    python bench/ray_bench.py [--workers 1 2 4] [--modes local actors tasks] [--rounds 3] [--json out.json]

Per executor and worker count (Ray: a local single-node instance with 4 CPUs, slots/tasks warmed first):
  latency     one evaluation at a time through executor.run (no judge): median ms
  overhead    Ray's per-task cost over the local pool, measured side by side (paired_overhead: one warm worker
              each, called in turn, median of the per-round differences)
  throughput  N evaluations submitted at once through the Evaluator (payload from the judge, candidate side on
              the executor, score from the judge): evaluations/s, median over rounds
  candidates  toy: a trivial candidate on the 3-instance toy problem (the fixed cost of an evaluation);
              tsp: the seed (nearest neighbour) on train50 (64 instances x 49 calls)
Driver side (what bounds the whole thing however large the cluster): Store.add_evaluation and Judge.score/payload,
median over repeats.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import statistics
import sys
import tempfile
import time
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
warnings.simplefilter("ignore")

from discover.evaluation import Evaluator
from discover.executors.local import LocalExecutor
from discover.problem import load_problem
from discover.sandbox import available_backends, open_sandbox

TOY = load_problem(str(ROOT / "tests" / "fixtures" / "problems" / "toy"))
TSP = load_problem("tsp")
CASES = {"toy": (TOY, "def solve(x):\n    return 2 * x\n", "train", 48),
         "tsp": (TSP, TSP.seed_code, "train50", 12)}
LATENCY_N = 15


def open_executor(mode: str, workers: int, backend: str):
    if mode == "local":
        return LocalExecutor(open_sandbox(backend, workers=workers))
    from discover.executors.ray import RayExecutor

    return RayExecutor(sandbox=backend, workers=workers, mode=mode)


async def together(ev: Evaluator, code: str, iset: str, n: int) -> list:
    return await asyncio.gather(*(ev.evaluate(code, [iset]) for _ in range(n)))


def measure(mode: str, workers: int, backend: str, rounds: int) -> dict:
    ex = open_executor(mode, workers, backend)
    out: dict = {}
    loop = asyncio.new_event_loop()  # one loop, as in a run
    try:
        for case, (problem, code, iset, n) in CASES.items():
            ev = Evaluator(problem, ex)
            payload, _ = ev.judge.payload(iset)
            job = ev._job(code, iset, payload)

            # warm: every slot/worker started and used once
            rs = loop.run_until_complete(together(ev, code, iset, 2 * workers))
            assert all(r[0].status == "ok" for r in rs), rs

            lat = []
            for _ in range(LATENCY_N):
                t = time.perf_counter()
                raw = loop.run_until_complete(ex.run(job))
                lat.append(time.perf_counter() - t)
                assert raw.status == "ok", raw
            thr = []
            for _ in range(rounds):
                t = time.perf_counter()
                rs = loop.run_until_complete(together(ev, code, iset, n))
                thr.append(n / (time.perf_counter() - t))
                assert all(r[0].status == "ok" for r in rs), rs
            ev.judge.close()
            if mode != "local":  # free this shape's slots (the next case has another memory size)
                for pool in ex._pools.values():
                    pool.kill()
                ex._pools.clear()
            out[case] = {"latency_ms": 1000 * statistics.median(lat), "evals_per_s": statistics.median(thr)}
    finally:
        loop.close()
        if mode == "local":
            ex.close()
    return out


def paired_overhead(backend: str, n: int = 40) -> dict:
    """Per-task overhead, side by side: one local worker, one Ray slot, one Ray task worker, all warm, called in
    turn (local, actors, tasks, local, ...) so load drift hits each alike; medians of the per-round differences."""
    exs = {m: open_executor(m, 1, backend) for m in ("local", "actors", "tasks")}
    out: dict = {}
    loop = asyncio.new_event_loop()
    try:
        for case, (problem, code, iset, _) in CASES.items():
            judge_ev = Evaluator(problem, exs["local"])
            payload, _ = judge_ev.judge.payload(iset)
            job = judge_ev._job(code, iset, payload)
            judge_ev.judge.close()
            for ex in exs.values():  # warm
                for _ in range(3):
                    assert loop.run_until_complete(ex.run(job)).status == "ok"
            times: dict[str, list[float]] = {m: [] for m in exs}
            for _ in range(n):
                for m, ex in exs.items():
                    t = time.perf_counter()
                    raw = loop.run_until_complete(ex.run(job))
                    times[m].append(time.perf_counter() - t)
                    assert raw.status == "ok", raw
            loc = times["local"]
            out[case] = {"local_ms": 1000 * statistics.median(loc)}
            for m in ("actors", "tasks"):
                out[case][f"{m}_ms"] = 1000 * statistics.median(times[m])
                out[case][f"{m}_overhead_ms"] = 1000 * statistics.median(a - b for a, b in zip(times[m], loc))
            for pool in exs["actors"]._pools.values():
                pool.kill()
            exs["actors"]._pools.clear()
    finally:
        loop.close()
        exs["local"].close()
    return out


def driver_side(repeats: int = 200) -> dict:
    """Store.add_evaluation (one committed row, WAL) and the judge's payload/score round trips."""
    from discover.judge import Judge
    from discover.sandbox.models import EvalResult
    from discover.store import Store

    out: dict = {}
    with tempfile.TemporaryDirectory() as d:
        store = Store(Path(d))
        run_id = store.create_run(problem="toy", problem_dir=str(TOY.root), kind="code", strategy="eoh",
                                  model="none", sandbox="bench", config={})
        cids = [store.add_candidate(run_id=run_id, generation=0, slot=i, operator="i1", parent_ids=[], thought="",
                                    code="x", code_hash=str(i), llm_call_key=None) for i in range(repeats)]
        result = EvalResult(status="ok", score=1.0, instances={f"i{k}": {"score": 1.0} for k in range(64)})
        t_add = []
        for cid in cids:
            t = time.perf_counter()
            store.add_evaluation(cid, "train", "train50", result)
            t_add.append(time.perf_counter() - t)
        store.close()
    out["store_add_evaluation_ms"] = 1000 * statistics.median(t_add)

    with warnings.catch_warnings():
        box = open_sandbox("process", workers=1)
    for case, (problem, code, iset, _) in CASES.items():
        judge = Judge(problem.root, workers=1)
        ev = Evaluator(problem, LocalExecutor(box), judge=judge)
        payload, sent = judge.payload(iset)
        raw = asyncio.run(ev.executor.run(ev._job(code, iset, payload)))
        t_pay, t_score = [], []
        for _ in range(30):
            t = time.perf_counter()
            judge.payload(iset)
            t_pay.append(time.perf_counter() - t)
            t = time.perf_counter()
            v = judge.score(iset, raw.output, sent)
            t_score.append(time.perf_counter() - t)
            assert v.status == "ok", v
        judge.close()
        out[f"{case}_judge_payload_ms"] = 1000 * statistics.median(t_pay)
        out[f"{case}_judge_score_ms"] = 1000 * statistics.median(t_score)
    box.close()
    return out


class InstantExecutor:
    """Answers every run at once with a recorded output: what is left is the driver's own cost per evaluation
    (payload, asyncio, the judge's scoring, the checks)."""

    name = "instant"
    capacity = 64

    def __init__(self, raw) -> None:
        self.raw = raw

    async def run(self, job, deadline=None):
        return self.raw

    def describe(self):
        return {"executor": "instant"}

    def close(self) -> None:
        pass


def driver_ceiling(rounds: int = 3) -> dict:
    """Evaluations/s the driver absorbs when the cluster costs nothing: Evaluator over InstantExecutor, 64 at once
    (the judge's two processes, as the Evaluator opens them for capacity >= 2)."""
    out: dict = {}
    with warnings.catch_warnings():
        box = open_sandbox("process", workers=1)
    for case, (problem, code, iset, _) in CASES.items():
        real = Evaluator(problem, LocalExecutor(box))
        payload, _ = real.judge.payload(iset)
        raw = asyncio.run(real.executor.run(real._job(code, iset, payload)))
        real.judge.close()
        ev = Evaluator(problem, InstantExecutor(raw))
        loop = asyncio.new_event_loop()
        n = 400 if case == "toy" else 100
        rates = []
        for _ in range(rounds):
            t = time.perf_counter()
            rs = loop.run_until_complete(together(ev, code, iset, n))
            rates.append(n / (time.perf_counter() - t))
            assert all(r[0].status == "ok" for r in rs)
        loop.close()
        ev.judge.close()
        out[f"{case}_driver_evals_per_s"] = statistics.median(rates)
    box.close()
    return out


def ray_call_rate(n: int = 1000) -> float:
    """Round trips/s of a no-op actor method, 1000 in flight: Ray's own cost on the driver per evaluation."""
    import ray

    @ray.remote(num_cpus=0)
    class Noop:
        def ping(self, x):
            return x

    a = Noop.remote()
    ray.get(a.ping.remote(0))

    async def many() -> None:
        await asyncio.gather(*(a.ping.remote(i) for i in range(n)))

    t = time.perf_counter()
    asyncio.run(many())
    rate = n / (time.perf_counter() - t)
    ray.kill(a)
    return rate


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--workers", type=int, nargs="+", default=[1, 2, 4])
    ap.add_argument("--modes", nargs="+", default=["local", "actors", "tasks"])
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--sandbox", default="bwrap" if available_backends()["bwrap"] is None else "process")
    ap.add_argument("--json", type=Path)
    ap.add_argument("--driver-only", action="store_true", help="only the driver-side costs")
    ap.add_argument("--overhead-only", action="store_true", help="only the paired per-task overhead")
    a = ap.parse_args()
    if a.driver_only or a.overhead_only:
        a.workers, a.modes = [], ["actors"]

    if any(m != "local" for m in a.modes):
        import logging

        import ray

        # >= 2 CPUs: paired_overhead holds a slot and a task at once
        ray.init(num_cpus=max(*(a.workers or [1]), 2), include_dashboard=False, log_to_driver=False,
                 logging_level=logging.WARNING)
    rows = []
    for w in a.workers:
        for mode in a.modes:  # alternated per worker count: drift of a shared machine hits every mode alike
            r = measure(mode, w, a.sandbox, a.rounds)
            rows.append({"mode": mode, "workers": w, **r})
            print(json.dumps(rows[-1]), flush=True)
    if a.overhead_only:
        print(json.dumps(paired_overhead(a.sandbox), indent=1))
        return
    drv = {**driver_side(), **driver_ceiling()}
    if any(m != "local" for m in a.modes):
        drv["ray_noop_actor_calls_per_s"] = ray_call_rate()
        drv["paired_overhead"] = paired_overhead(a.sandbox)
    print(json.dumps(drv), flush=True)

    print(f"\n{platform.node()} · {os.cpu_count()} cores · sandbox {a.sandbox} · load {os.getloadavg()[0]:.1f}")
    print("| executor | workers | toy latency ms | toy evals/s | tsp latency ms | tsp evals/s |")
    print("|---|---:|---:|---:|---:|---:|")
    for r in rows:
        print(f"| {r['mode']} | {r['workers']} | {r['toy']['latency_ms']:.1f} | {r['toy']['evals_per_s']:.1f} | "
              f"{r['tsp']['latency_ms']:.1f} | {r['tsp']['evals_per_s']:.1f} |")
    local = {r["workers"]: r for r in rows if r["mode"] == "local"}
    for r in rows:
        if r["mode"] != "local" and r["workers"] in local:
            over = r["toy"]["latency_ms"] - local[r["workers"]]["toy"]["latency_ms"]
            print(f"ray {r['mode']} x{r['workers']}: per-task overhead {over:.1f} ms (toy latency minus local)")
    print(json.dumps(drv, indent=1))
    if a.json:
        a.json.write_text(json.dumps({"rows": rows, "driver": drv}, indent=1))


if __name__ == "__main__":
    main()
