"""Steady-state vs generational scheduling against a stub OpenAI-compatible server on loopback.

The stub answers /v1/chat/completions after a fixed latency (default 2 s) with a valid, new function for the toy
problem (tests/fixtures/problems/toy). discover runs through its Python API with `--llm-concurrency 8` on the real
Evaluator; the server records when each request starts and ends, so the LLM-busy numbers are measured where the
calls are served, not where they are made. One warm-up call through litellm comes first (its lazy set-up takes
seconds on the first call and is not scheduling).

Reported per schedule (median of --repeat runs):
  busy     time-weighted mean of (calls in flight / concurrency) from the first request to the last answer
  full     fraction of that time with all `concurrency` calls in flight
  busy*    the same two until the last request was sent (the tail, when fewer proposals than slots are left, excluded)
  cand/min candidates evaluated per minute of search wall time

    .venv/bin/python bench/schedule_bench.py [--latency 2] [--jitter 0] [--concurrency 8] [--proposals 48] [--repeat 3]
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

from aiohttp import web

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
TOY = str(ROOT / "tests" / "fixtures" / "problems" / "toy")


class Stub:
    def __init__(self, latency: float, jitter: float, seed: int = 0) -> None:
        self.latency, self.jitter = latency, jitter
        self.rng = random.Random(seed)
        self.spans: list[tuple[float, float]] = []
        self.n = 0
        self.lock = threading.Lock()

    async def chat(self, request: web.Request) -> web.Response:
        t0 = time.monotonic()
        body = await request.json()
        with self.lock:
            self.n += 1
            i = self.n
            delay = self.latency + (self.rng.uniform(-self.jitter, self.jitter) if self.jitter else 0.0)
        await asyncio.sleep(max(0.0, delay))
        text = f"Thought: scale by a constant close to two (variant {i}).\n```python\ndef solve(x):\n    return {2 + i * 1e-6!r} * x\n```"
        with self.lock:
            self.spans.append((t0, time.monotonic()))
        return web.json_response({
            "id": f"stub-{i}", "object": "chat.completion", "created": int(time.time()), "model": body.get("model", "stub"),
            "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 100, "completion_tokens": 30, "total_tokens": 130},
        })

    def serve(self) -> tuple[str, callable]:
        """Start on a free loopback port in a thread of its own. -> (base URL, stop)."""
        ready = threading.Event()
        box: dict = {}

        def main() -> None:
            loop = asyncio.new_event_loop()
            asyncio.set_event_loop(loop)
            app = web.Application()
            app.router.add_post("/v1/chat/completions", self.chat)
            runner = web.AppRunner(app, access_log=None)
            loop.run_until_complete(runner.setup())
            site = web.TCPSite(runner, "127.0.0.1", 0)
            loop.run_until_complete(site.start())
            box["port"] = site._server.sockets[0].getsockname()[1]
            box["loop"] = loop
            ready.set()
            loop.run_forever()
            loop.run_until_complete(runner.cleanup())

        t = threading.Thread(target=main, daemon=True)
        t.start()
        ready.wait()

        def stop() -> None:
            box["loop"].call_soon_threadsafe(box["loop"].stop)
            t.join(timeout=5)

        return f"http://127.0.0.1:{box['port']}/v1", stop


def busy(spans: list[tuple[float, float]], concurrency: int, until: float | None = None) -> tuple[float, float]:
    """(mean in-flight / concurrency, fraction of time at full concurrency) from the first start to `until`
    (default: the last end)."""
    if not spans:
        return 0.0, 0.0
    start = min(s for s, _ in spans)
    end = until if until is not None else max(e for _, e in spans)
    events = sorted([(s, 1) for s, _ in spans] + [(e, -1) for _, e in spans])
    level, last, area, full = 0, start, 0.0, 0.0
    for t, d in events:
        t = min(max(t, start), end)
        area += level * (t - last)
        if level >= concurrency:
            full += t - last
        level, last = level + d, t
    total = end - start
    return (area / (concurrency * total), full / total) if total > 0 else (0.0, 0.0)


def warm_up(base: str) -> None:
    """One call through litellm first: its import and first call take seconds (lazy set-up), which is not what
    this measures."""
    from discover.llm import Gateway

    asyncio.run(Gateway(api_base=base, max_retries=0).complete(model="openai/stub", sample_index=-1,
                                                               messages=[{"role": "user", "content": "warm up"}]))


def one_run(schedule: str, args: argparse.Namespace, seed: int) -> dict:
    from discover.config import RunConfig
    from discover.engine import run_sync
    from discover.store import Store

    stub = Stub(args.latency, args.jitter, seed)
    base, stop = stub.serve()
    pop = args.concurrency
    gens = max(1, round((args.proposals + 1) / pop))
    cfg = RunConfig(problem=TOY, model="openai/stub", api_base=base, llm_concurrency=args.concurrency,
                    generations=gens, population=pop, schedule=schedule, seed=seed, duplicate_retries=0, repair=False,
                    llm_retries=0, test_top_k=1, workers=args.workers, prefill="off")
    runs = Path(tempfile.mkdtemp(prefix="schedule-bench-"))
    warm_up(base)
    stub.spans.clear()
    t0 = time.monotonic()
    try:
        s = run_sync(cfg, runs_dir=runs)
    finally:
        stop()
    wall = time.monotonic() - t0
    spans = stub.spans
    search_end = max(e for _, e in spans)
    last_start = max(s for s, _ in spans)
    evaluated = sum(1 for c in Store(runs).candidates(s.run_id) if c.status == "evaluated" and c.operator != "seed")
    search_s = search_end - min(a for a, _ in spans)
    b, f = busy(spans, args.concurrency)
    b2, f2 = busy(spans, args.concurrency, until=last_start)
    return {"calls": len(spans), "busy": b, "full": f, "busy_head": b2, "full_head": f2, "evaluated": evaluated,
            "per_min": 60 * evaluated / search_s, "search_s": search_s, "wall_s": wall, "status": s.status}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--latency", type=float, default=2.0)
    p.add_argument("--jitter", type=float, default=0.0, help="uniform +- seconds around the latency")
    p.add_argument("--concurrency", type=int, default=8)
    p.add_argument("--proposals", type=int, default=47, help="about this many proposals (generations x population - 1)")
    p.add_argument("--workers", type=int, default=2, help="sandbox workers")
    p.add_argument("--repeat", type=int, default=3)
    args = p.parse_args()
    rows = {}
    for schedule in ("steady", "generational"):
        runs = [one_run(schedule, args, seed) for seed in range(args.repeat)]
        rows[schedule] = {k: statistics.median(r[k] for r in runs) for k in runs[0] if k != "status"}
        print(f"{schedule}: " + ", ".join(f"{k}={statistics.median(r[k] for r in runs):.3f}" for k in
                                          ("busy", "full", "busy_head", "full_head", "per_min", "search_s")), flush=True)
    print(f"\nstub latency {args.latency:g} s (jitter +-{args.jitter:g}), --llm-concurrency {args.concurrency}, "
          f"~{args.proposals} proposals, toy problem, {args.workers} sandbox workers, median of {args.repeat}")
    print(f"{'schedule':<13} {'calls':>5} {'busy':>6} {'full':>6} {'busy*':>6} {'full*':>6} {'search s':>9} {'cand/min':>9}")
    for schedule, r in rows.items():
        print(f"{schedule:<13} {r['calls']:>5.0f} {100 * r['busy']:>5.1f}% {100 * r['full']:>5.1f}% "
              f"{100 * r['busy_head']:>5.1f}% {100 * r['full_head']:>5.1f}% {r['search_s']:>9.1f} {r['per_min']:>9.1f}")
    s, g = rows["steady"], rows["generational"]
    print(f"steady / generational: busy x{s['busy'] / g['busy']:.2f}, candidates per minute x{s['per_min'] / g['per_min']:.2f}")


if __name__ == "__main__":
    main()
