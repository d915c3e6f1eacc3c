"""LLM gateway benchmark.

1. Embedded model (local/qwen2.5-coder-0.5b through the Gateway): first-run assembly of the model file into a
   fresh cache dir, model load, then tokens/s and latency on completion-style code prompts.
2. Gateway throughput against an OpenAI-compatible server on 127.0.0.1 (stdlib http.server in a thread, fixed
   delay per request): calls/s at several concurrency limits, per-call overhead, cache-hit latency.
3. `--batching`: the embedded model's proposals per minute with 1, 2 and 4 concurrent TSP prompts (recorded from a
   prefilled TSP run, bench/data/tsp_prompts.json, ~1000 tokens), serialised (one sequence, the previous call's
   prefix reused: what the gateway did before batching) vs decoded together (local_batch.py), rounds interleaved
   so both see the same machine load; and the prompt tokens that per-slot prefix reuse saves on a replay of the
   whole recorded run (token counts only, no model time).

    nice .venv/bin/python bench/llm_bench.py [--samples 6] [--max-tokens 128] [--append bench/RESULTS.md]
    nice .venv/bin/python bench/llm_bench.py --batching [--rounds 3] [--completion-tokens 190] [--append ...]
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


PROMPTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data", "tsp_prompts.json")
LOCAL = "qwen2.5-coder-0.5b"


def _prompt_tokens(llm, calls: list[dict]) -> list[list[int]]:
    from discover.llm import local

    return [list(llm.vocab.tokenize(local.build_prompt(llm, c["messages"])[0], add_special=True, parse_special=True))
            for c in calls]


def replay_prefix_reuse(token_lists: list[list[int]], slots: int = 4) -> dict:
    """Prompt tokens processed over the recorded sequence of prompts: without reuse, reusing the previous call's
    prefix (one sequence), and with one KV sequence per slot (local_batch.place) — one call at a time, and with
    `slots` calls in flight (a slot stays busy until `slots - 1` later calls have started, so a prompt often has
    to copy its prefix from a busy slot)."""
    from discover.llm.local_batch import common_prefix_len, place

    out = {"calls": len(token_lists), "prompt_tokens": sum(map(len, token_lists))}
    prev: list[int] = []
    processed = 0
    for toks in token_lists:
        processed += len(toks) - min(common_prefix_len(prev, toks), max(0, len(toks) - 2))
        prev = toks
    out["previous_call"] = processed
    for label, in_flight, copy in (("per_slot_serial", 1, True), ("per_slot_in_flight_no_copy", slots, False),
                                   ("per_slot_in_flight", slots, True)):
        kvs: list[list[int]] = [[] for _ in range(slots)]
        used = [0.0] * slots
        owner: list[int] = [-slots] * slots  # the call each slot serves
        processed = copied = 0
        for i, toks in enumerate(token_lists):
            free = [s for s in range(slots) if owner[s] <= i - in_flight]
            plan = place(kvs, free, toks, used, allow_copy=copy)
            processed += len(toks) - plan.keep
            copied += plan.keep - plan.own if plan.copy_from is not None else 0
            kvs[plan.slot], used[plan.slot], owner[plan.slot] = toks, float(i), i
        out[label] = processed
        out[label + "_copied"] = copied
    return out


def bench_batching(rounds: int, completion_tokens: int, levels: list[int]) -> dict:
    """Serialised vs batched rounds of `c` concurrent proposals, interleaved (ABBA) so both see the same load."""
    from discover.llm import local
    from discover.llm.free_cores import FreeCores
    from discover.llm.local_batch import BatchEngine, Request

    calls = json.load(open(PROMPTS))
    llm = local._load(LOCAL)
    all_tokens = _prompt_tokens(llm, calls)
    tsp_sized = [t for t in all_tokens if 850 <= len(t) <= 1150] or all_tokens
    threads = FreeCores().initial_threads()
    os.environ["DISCOVER_LOCAL_THREADS"] = str(threads)  # the same threads for both, chosen from the idle cores now
    engines = {"serialised": BatchEngine(llm, slots=1, n_ctx=local.ENGINE_CTX, name="serialised"),
               "batched": BatchEngine(llm, slots=max(levels), n_ctx=local.ENGINE_CTX, name="batched")}

    def request(tokens: list[int], seed: int, max_tokens: int) -> Request:
        return Request(tokens=tokens, max_tokens=max_tokens, make_sampler=lambda: local._sampler(0.8, seed))

    def one_round(mode: str, prompts: list[list[int]], seeds: list[int]) -> dict:
        engine = engines[mode]
        before = dict(engine.stats)
        cpu = os.times()
        t = time.monotonic()
        if mode == "serialised":
            gens = [engine.submit(request(p, s, completion_tokens)).result() for p, s in zip(prompts, seeds)]
        else:
            futs = [engine.submit(request(p, s, completion_tokens)) for p, s in zip(prompts, seeds)]
            gens = [f.result() for f in futs]
        wall = time.monotonic() - t
        cpu_s = sum(os.times()[:2]) - sum(cpu[:2])  # the model's CPU time: what a shared machine can take away
        done = sum(g.completion_tokens for g in gens)
        return {"wall_s": wall, "tokens_per_s": done / wall, "proposals_per_min": len(gens) * 60 / wall,
                "cpu_s_per_proposal": cpu_s / len(gens),
                "completion_tokens": done,
                "processed_prompt_tokens": (engine.stats["prompt_tokens"] - before["prompt_tokens"])
                - (engine.stats["reused_tokens"] - before["reused_tokens"])}

    rows = []
    try:
        for engine in engines.values():  # both start with the shared system/task prefix cached
            engine.submit(request(tsp_sized[0], 0, 1)).result()
        k = 1
        for c in levels:
            results: dict[str, list[dict]] = {"serialised": [], "batched": []}
            for r in range(rounds):
                prompts = [tsp_sized[(k + i) % len(tsp_sized)] for i in range(c)]
                seeds = [1000 * c + 10 * r + i for i in range(c)]
                order = ("serialised", "batched") if r % 2 == 0 else ("batched", "serialised")
                for mode in order if c > 1 else ("serialised",):  # one call: the same single sequence either way
                    results[mode].append(one_round(mode, prompts, seeds))
                    print(f"  c={c} round {r + 1} {mode}: {results[mode][-1]['wall_s']:.1f} s", flush=True)
                k += c
            row = {"concurrency": c}
            results["batched"] = results["batched"] or results["serialised"]
            for mode, res in results.items():
                for key in ("wall_s", "tokens_per_s", "proposals_per_min", "completion_tokens",
                            "processed_prompt_tokens", "cpu_s_per_proposal"):
                    row[f"{mode}_{key}"] = statistics.median(x[key] for x in res)
            rows.append(row)
    finally:
        for engine in engines.values():
            engine.close()
        os.environ.pop("DISCOVER_LOCAL_THREADS", None)
    prompt_lens = [len(t) for t in tsp_sized]
    return {"rows": rows, "threads": threads, "rounds": rounds, "completion_tokens": completion_tokens,
            "prompt_tokens_median": statistics.median(prompt_lens), "replay": replay_prefix_reuse(all_tokens),
            "load": os.getloadavg()}


def batching_markdown(b: dict) -> str:
    lines = [f"Embedded model, {b['rounds']} rounds per cell (medians), TSP prompts from bench/data/tsp_prompts.json "
             f"(median {b['prompt_tokens_median']:.0f} prompt tokens), up to {b['completion_tokens']} completion "
             f"tokens, temperature 0.8, n_threads={b['threads']} (both), load average at the end "
             f"{b['load'][0]:.1f}:\n",
             "| concurrent calls | serialised tokens/s | batched tokens/s | ratio | serialised proposals/min | "
             "batched proposals/min | CPU s per proposal (serialised / batched) | "
             "processed prompt tokens per round (serialised / batched) |",
             "|---|---|---|---|---|---|---|---|"]
    for r in b["rows"]:
        cpu = (f"{r['serialised_cpu_s_per_proposal']:.0f} / {r['batched_cpu_s_per_proposal']:.0f}"
               if "serialised_cpu_s_per_proposal" in r else "—")
        lines.append(f"| {r['concurrency']} | {r['serialised_tokens_per_s']:.1f} | {r['batched_tokens_per_s']:.1f} | "
                     f"{r['batched_tokens_per_s'] / r['serialised_tokens_per_s']:.2f}x | "
                     f"{r['serialised_proposals_per_min']:.2f} | {r['batched_proposals_per_min']:.2f} | {cpu} | "
                     f"{r['serialised_processed_prompt_tokens']:.0f} / {r['batched_processed_prompt_tokens']:.0f} |")
    rp = b["replay"]
    lines += ["", f"Prefix reuse on a replay of the recorded run ({rp['calls']} calls, {rp['prompt_tokens']} prompt "
                  "tokens; token counts, no model time):\n",
              "| KV cache | prompt tokens processed | saved vs no reuse |", "|---|---|---|",
              f"| no reuse | {rp['prompt_tokens']} | 0 % |"]
    for label, key in (("previous call's prefix (one sequence, before)", "previous_call"),
                       ("one sequence per slot, 4 slots, one call at a time", "per_slot_serial"),
                       ("one sequence per slot, 4 calls in flight, no copies", "per_slot_in_flight_no_copy"),
                       ("one sequence per slot, 4 calls in flight (copies from busy slots: "
                        f"{rp['per_slot_in_flight_copied']} tokens)", "per_slot_in_flight")):
        lines.append(f"| {label} | {rp[key]} | {100 * (1 - rp[key] / rp['prompt_tokens']):.0f} % |")
    return "\n".join(lines) + "\n"


def record_prompts(db: str) -> None:
    """bench/data/tsp_prompts.json from a run's store (see bench/data/record_responder.py)."""
    import sqlite3

    rows = sqlite3.connect(db).execute("select messages, params, sample_index from llm_calls where error is null "
                                       "and cached = 0 order by rowid").fetchall()
    calls = [{"messages": json.loads(m), "params": json.loads(p), "sample_index": i} for m, p, i in rows]
    with open(PROMPTS, "w") as f:
        json.dump(calls, f, indent=1)
    print(f"{len(calls)} calls -> {PROMPTS}")


def markdown(emb: dict | None, srv: list[dict], args) -> str:
    cpu = "?"
    try:
        cpu = next(line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    lines = [f"\n### {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC — {platform.node() or 'host'}, {cpu}, "
             f"{len(os.sched_getaffinity(0))} usable cores (shared), Python {platform.python_version()}\n"]
    if getattr(args, "batching_result", None):
        lines.append(batching_markdown(args.batching_result))
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
    ap.add_argument("--batching", action="store_true", help="only the embedded model's batching table")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--completion-tokens", type=int, default=190)
    ap.add_argument("--levels", default="1,2,4")
    ap.add_argument("--record-from", help="write bench/data/tsp_prompts.json from this run store and exit")
    ap.add_argument("--append", help="append the results to this markdown file under '## LLM gateway'")
    args = ap.parse_args()
    if args.record_from:
        record_prompts(args.record_from)
        return
    if args.batching:
        args.batching_result = bench_batching(args.rounds, args.completion_tokens,
                                              [int(c) for c in args.levels.split(",")])
        print(json.dumps(args.batching_result))  # the raw numbers, before anything can fail formatting them
        srv, emb = [], None
    else:
        srv = bench_server(args.calls, args.delay, [int(c) for c in args.concurrency.split(",")])
        emb = None if args.skip_embedded else bench_embedded(args.samples, args.max_tokens)
    text = markdown(emb, srv, args)
    print(text)
    if args.append:
        append_section(args.append, text)


def append_section(path: str, text: str) -> None:
    existing = open(path).read() if os.path.exists(path) else ""
    head = "\n## LLM gateway\n"
    at = existing.find(head)
    if at < 0:
        with open(path, "a") as f:  # new section at the end
            f.write(head + text)
    else:  # add to the end of our section, leaving the others' sections as they are
        end = existing.find("\n## ", at + len(head))
        end = len(existing) if end < 0 else end
        with open(path, "w") as f:
            f.write(existing[:end].rstrip("\n") + "\n" + text + existing[end:])


if __name__ == "__main__":
    main()
