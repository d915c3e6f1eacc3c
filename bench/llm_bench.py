"""LLM gateway benchmark.

1. Embedded model (local/qwen2.5-coder-0.5b through the Gateway): first-run assembly of the model file into a
   fresh cache dir, model load, then tokens/s and latency on completion-style code prompts.
2. Gateway throughput against an OpenAI-compatible server on 127.0.0.1 (stdlib http.server in a thread, fixed
   delay per request): calls/s at several concurrency limits, per-call overhead, cache-hit latency.

    nice .venv/bin/python bench/llm_bench.py [--samples 6] [--max-tokens 128] [--append bench/RESULTS.md]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import statistics
import tempfile
import threading
import time
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

PROMPT = [
    {"role": "system", "content": "You write fast, correct Python heuristics."},
    {"role": "user", "content": "Complete the function: choose the next city for a TSP tour.\n"
                                "def select_next_node(current_node, destination_node, unvisited_nodes, distance_matrix):"},
    {"role": "assistant", "content": "```python\nimport numpy as np\n\ndef select_next_node(current_node, destination_node, "
                                     "unvisited_nodes, distance_matrix):\n"},
]


def bench_embedded(samples: int, max_tokens: int) -> dict:
    from discover.llm import Gateway, MemoryCallLog
    from discover.llm import local, modelfile

    out: dict = {"threads": local.n_threads()}
    with tempfile.TemporaryDirectory(prefix="discover-cache-") as cache:
        os.environ["DISCOVER_CACHE_DIR"] = cache
        os.environ["DISCOVER_NO_PROGRESS"] = "1"
        t = time.monotonic()
        modelfile.ensure_model_file("qwen2.5-coder-0.5b")
        out["assembly_s"] = time.monotonic() - t
        t = time.monotonic()
        modelfile.ensure_model_file("qwen2.5-coder-0.5b")
        out["ready_check_s"] = time.monotonic() - t
        t = time.monotonic()
        local._load("qwen2.5-coder-0.5b")
        out["load_s"] = time.monotonic() - t
        g = Gateway(call_log=MemoryCallLog(), timeout_s=600)
        lat, tps, toks, ptoks = [], [], [], []
        for i in range(samples):
            r = g.complete_sync(model="local/qwen2.5-coder-0.5b", messages=PROMPT, temperature=0.8,
                                max_tokens=max_tokens, sample_index=i)
            lat.append(r.latency_s)
            toks.append(r.completion_tokens)
            ptoks.append(r.prompt_tokens)
            tps.append(r.completion_tokens / r.latency_s if r.latency_s else 0.0)
        t = time.monotonic()
        g.complete_sync(model="local/qwen2.5-coder-0.5b", messages=PROMPT, temperature=0.8, max_tokens=max_tokens,
                        sample_index=0)
        out["cache_hit_ms"] = (time.monotonic() - t) * 1000
        # a short answer: latency floor (prompt processing + a few tokens)
        r = g.complete_sync(model="local/qwen2.5-coder-0.5b", messages=[{"role": "user", "content": "Say OK."}],
                            temperature=0.0, max_tokens=4)
        out["short_call_s"] = r.latency_s
        os.environ.pop("DISCOVER_CACHE_DIR")
    out.update(samples=samples, max_tokens=max_tokens, prompt_tokens=statistics.mean(ptoks),
               completion_tokens_mean=statistics.mean(toks), latency_p50_s=statistics.median(lat),
               latency_max_s=max(lat), tokens_per_s_mean=sum(toks) / sum(lat))
    return out


class _Handler(BaseHTTPRequestHandler):
    delay_s = 0.2
    in_flight = 0
    max_in_flight = 0
    lock = threading.Lock()

    def log_message(self, *args) -> None:
        pass

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers.get("content-length", 0))) or b"{}")
        cls = type(self)
        with cls.lock:
            cls.in_flight += 1
            cls.max_in_flight = max(cls.max_in_flight, cls.in_flight)
        time.sleep(cls.delay_s)
        with cls.lock:
            cls.in_flight -= 1
        text = "echo: " + str(body.get("messages", [{}])[-1].get("content", ""))[:40]
        payload = json.dumps({
            "id": "cmpl-1", "object": "chat.completion", "created": int(time.time()), "model": body.get("model", "m"),
            "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 12, "completion_tokens": 5, "total_tokens": 17},
        }).encode()
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)


def bench_server(calls: int, delay_s: float, limits: list[int]) -> list[dict]:
    from discover.llm import Gateway, MemoryCallLog

    _Handler.delay_s = delay_s
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_address[1]}/v1"
    rows = []
    try:
        for limit in limits:
            log = MemoryCallLog()
            g = Gateway(call_log=log, concurrency=limit, api_base=base, timeout_s=30)
            _Handler.max_in_flight = 0

            async def run(offset: int) -> list:
                return await asyncio.gather(*(g.complete(model="openai/bench", messages=[
                    {"role": "user", "content": f"call {offset + i}"}], max_tokens=8) for i in range(calls)))

            asyncio.run(run(-1_000_000))  # warm-up: litellm import + client setup, not measured
            t = time.monotonic()
            results = asyncio.run(run(limit * 10_000))
            wall = time.monotonic() - t
            t = time.monotonic()
            asyncio.run(run(limit * 10_000))  # the same prompts again: every call is a cache hit
            cached_wall = time.monotonic() - t
            lat = [r.latency_s for r in results]
            ideal = calls / limit * delay_s
            rows.append({"concurrency": limit, "calls": calls, "wall_s": wall, "calls_per_s": calls / wall,
                         "ideal_s": ideal, "overhead_per_call_ms": (statistics.median(lat) - delay_s) * 1000,
                         "server_max_in_flight": _Handler.max_in_flight,
                         "cache_hit_per_call_ms": cached_wall / calls * 1000})
    finally:
        server.shutdown()
    return rows


def markdown(emb: dict | None, srv: list[dict], args) -> str:
    cpu = "?"
    try:
        cpu = next(line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    lines = [f"\n### {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC — {platform.node() or 'host'}, {cpu}, "
             f"{len(os.sched_getaffinity(0))} usable cores (shared), Python {platform.python_version()}\n"]
    if emb:
        lines += [
            "Embedded model `local/qwen2.5-coder-0.5b` (cyllama 0.2.x, Q4_K_M, "
            f"n_threads={emb['threads']}), completion-style TSP prompt, temperature 0.8, max_tokens {emb['max_tokens']}:\n",
            "| metric | value |", "|---|---|",
            f"| first-run assembly of the 491 MB model file (chunks -> cache, sha256) | {emb['assembly_s']:.1f} s |",
            f"| later start: verified-file check | {emb['ready_check_s'] * 1000:.1f} ms |",
            f"| model load | {emb['load_s']:.2f} s |",
            f"| prompt tokens | {emb['prompt_tokens']:.0f} |",
            f"| completion tokens (mean of {emb['samples']}) | {emb['completion_tokens_mean']:.0f} |",
            f"| generation speed | {emb['tokens_per_s_mean']:.1f} tokens/s |",
            f"| latency p50 / max | {emb['latency_p50_s']:.2f} s / {emb['latency_max_s']:.2f} s |",
            f"| short call (\"Say OK.\", 4 tokens) | {emb['short_call_s']:.2f} s |",
            f"| cache hit | {emb['cache_hit_ms']:.2f} ms |", ""]
    if srv:
        lines += [f"Gateway -> OpenAI-compatible stdlib server on 127.0.0.1, {srv[0]['calls']} calls, "
                  f"{args.delay * 1000:.0f} ms fixed server delay:\n",
                  "| concurrency | wall s | calls/s | ideal s | median overhead/call | server max in flight | cache hit/call |",
                  "|---|---|---|---|---|---|---|"]
        for r in srv:
            lines.append(f"| {r['concurrency']} | {r['wall_s']:.2f} | {r['calls_per_s']:.1f} | {r['ideal_s']:.2f} | "
                         f"{r['overhead_per_call_ms']:.1f} ms | {r['server_max_in_flight']} | "
                         f"{r['cache_hit_per_call_ms']:.2f} ms |")
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--samples", type=int, default=6)
    ap.add_argument("--max-tokens", type=int, default=128)
    ap.add_argument("--calls", type=int, default=48)
    ap.add_argument("--delay", type=float, default=0.2)
    ap.add_argument("--concurrency", default="1,4,16")
    ap.add_argument("--skip-embedded", action="store_true")
    ap.add_argument("--append", help="append the results to this markdown file under '## LLM gateway'")
    args = ap.parse_args()
    srv = bench_server(args.calls, args.delay, [int(c) for c in args.concurrency.split(",")])
    emb = None if args.skip_embedded else bench_embedded(args.samples, args.max_tokens)
    text = markdown(emb, srv, args)
    print(text)
    if args.append:
        existing = open(args.append).read() if os.path.exists(args.append) else ""
        head = "\n## LLM gateway\n"
        at = existing.find(head)
        if at < 0:
            with open(args.append, "a") as f:  # new section at the end
                f.write(head + text)
        else:  # add to the end of our section, leaving the others' sections as they are
            end = existing.find("\n## ", at + len(head))
            end = len(existing) if end < 0 else end
            with open(args.append, "w") as f:
                f.write(existing[:end].rstrip("\n") + "\n" + text + existing[end:])


if __name__ == "__main__":
    main()
