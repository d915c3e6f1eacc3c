"""What the run store's start-up integrity check costs: builds a store of realistic rows (runs, candidates with code,
evaluations with per-instance JSON, LLM calls with prompts) of about --mb megabytes, then times opening it with each
check, medians of --repeat, warm page cache (the file was just written or read).

    .venv/bin/python bench/store_bench.py            # 100 MB store in a temporary folder
    .venv/bin/python bench/store_bench.py --mb 20 --keep runs-bench
"""

from __future__ import annotations

import argparse
import hashlib
import json
import platform
import random
import sqlite3
import statistics
import tempfile
import time
from pathlib import Path

from discover.store import Store, integrity

INSTANCES = 64  # a TSP instance set: 64 instances with a few metrics each
PER_CANDIDATE_BYTES = 18_500  # measured on this builder's rows: code, 1.4 evaluations, an LLM call, indexes


class _Result:
    def __init__(self, rng: random.Random, status: str = "ok") -> None:
        self.status = status
        self.instances = {f"inst{i:03d}": {"score": rng.uniform(5, 30), "length": rng.uniform(5, 8), "time_s": rng.random()}
                          for i in range(INSTANCES)}
        self.score = statistics.mean(m["score"] for m in self.instances.values())
        self.error = self.traceback = None
        self.stdout_tail, self.stderr_tail = "", ""
        self.duration_s = rng.uniform(0.5, 3)


def _code(rng: random.Random, n: int) -> str:
    lines = [f"def select_next_node(current_node, destination_node, unvisited_nodes, distance_matrix):  # v{n}"]
    lines += [f"    w{i} = {rng.uniform(-2, 2):.6f} * distance_matrix[current_node][{i}]  # weight {rng.random():.4f}"
              for i in range(18)]
    lines.append("    return min(unvisited_nodes, key=lambda j: distance_matrix[current_node][j])")
    return "\n".join(lines) + "\n"


def build(runs_dir: Path, megabytes: float, seed: int = 0) -> Path:
    rng = random.Random(seed)
    store = Store(runs_dir)
    n_candidates = int(megabytes * 1e6 / PER_CANDIDATE_BYTES)
    per_run = 500
    prompt = "You are an expert in heuristics for the travelling salesman problem. " * 40
    store._conn.execute("BEGIN")
    for r in range(max(1, round(n_candidates / per_run))):
        run_id = store.create_run(problem="tsp", problem_dir="/problems/tsp", kind="code", strategy="eoh",
                                  model="local/qwen2.5-coder-0.5b", sandbox="bwrap", config={"generations": 50},
                                  run_id=f"bench-run-{r:04d}")
        for k in range(per_run):
            code = _code(rng, k)
            key = hashlib.sha256(f"{run_id}{k}".encode()).hexdigest()
            store._conn.execute(
                "INSERT INTO llm_calls (run_id, key, model, role, messages, params, sample_index, response, prompt_tokens,"
                " completion_tokens, cost_usd, latency_s, cached, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (run_id, key, "local/qwen2.5-coder-0.5b", "propose", json.dumps([{"role": "user", "content": prompt}]),
                 "{}", 0, code, 900, 400, 0.0, rng.uniform(5, 20), 0, time.time()))
            cid = store.add_candidate(run_id=run_id, generation=k // 10, slot=k % 10, operator=rng.choice(["e1", "e2", "m1"]),
                                      parent_ids=[], thought="Prefer nearer nodes, penalise far detours.", code=code,
                                      code_hash=hashlib.sha256(code.encode()).hexdigest(), llm_call_key=key)
            store.add_evaluation(cid, "train", "train50", _Result(rng))
            if k % 5 == 0:
                store.add_evaluation(cid, "test", "test50", _Result(rng))
                store.add_evaluation(cid, "test", "test100", _Result(rng))
            store.finish_candidate(cid, status="evaluated", train_score=10.0, valid=True)
    store._conn.execute("COMMIT")
    store.close()
    return runs_dir / "discover.db"


def _time_pragma(path: Path, pragma: str) -> float:
    conn = sqlite3.connect(path)
    try:
        t = time.perf_counter()
        rows = conn.execute(f"PRAGMA {pragma}").fetchall()
        elapsed = time.perf_counter() - t
    finally:
        conn.close()
    assert rows == [("ok",)], rows
    return elapsed


def _time_bare_open(path: Path) -> float:
    t = time.perf_counter()
    conn = sqlite3.connect(path)
    conn.execute("SELECT count(*) FROM sqlite_master").fetchall()
    conn.close()
    return time.perf_counter() - t


def _time_index_fingerprints(path: Path) -> float:
    """The alternative to integrity_check considered for readers: compare each index with its table by a
    fingerprint (count, sum of rowids, lengths and code points of the keys) from one scan of each."""
    conn = sqlite3.connect(path)
    t = time.perf_counter()
    for name, table in conn.execute("SELECT name, tbl_name FROM sqlite_master WHERE type = 'index'").fetchall():
        cols = [r[2] for r in conn.execute(f"PRAGMA index_info({name})")]
        parts = ["count(*)", "total(rowid)"] + [f"total(length({c})), total(unicode({c}))" for c in cols]
        sql = f"SELECT {', '.join(parts)} FROM {table}"
        assert conn.execute(f"{sql} INDEXED BY {name}").fetchone() == conn.execute(f"{sql} NOT INDEXED").fetchone()
    elapsed = time.perf_counter() - t
    conn.close()
    return elapsed


def _time_open(runs_dir: Path, forget: bool = False, **kwargs) -> float:
    if forget:  # as after any commit: the last check's record no longer matches the files
        Path(f"{runs_dir / 'discover.db'}{integrity.VERIFIED_SUFFIX}").unlink(missing_ok=True)
    t = time.perf_counter()
    Store(runs_dir, **kwargs).close()
    return time.perf_counter() - t


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--mb", type=float, default=100)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--keep", type=Path, help="build the store here and keep it")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        runs_dir = args.keep or Path(tmp)
        path = runs_dir / "discover.db"
        if not path.exists():
            t = time.perf_counter()
            build(runs_dir, args.mb)
            print(f"built {path} in {time.perf_counter() - t:.1f} s")
        conn = sqlite3.connect(path)
        counts = {t: conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0]
                  for t in ("runs", "candidates", "evaluations", "llm_calls")}
        conn.close()
        size = path.stat().st_size / 1e6
        print(f"store: {size:.1f} MB, " + ", ".join(f"{n} {t}" for t, n in counts.items()))
        print(f"machine: {platform.node()} {platform.machine()}, {platform.python_version()}, SQLite {sqlite3.sqlite_version},"
              f" {time.strftime('%Y-%m-%d')}")
        cases = {
            "open, no check (baseline)": lambda: _time_bare_open(path),
            "PRAGMA quick_check": lambda: _time_pragma(path, "quick_check"),
            "index-vs-table fingerprints (considered for readers)": lambda: _time_index_fingerprints(path),
            "PRAGMA integrity_check": lambda: _time_pragma(path, "integrity_check"),
            f"Store(...) open for writing ({integrity.WRITER_CHECK})": lambda: _time_open(runs_dir, create=False),
            "Store(..., readonly=True), changed since the last check": lambda: _time_open(runs_dir, readonly=True, forget=True),
            "Store(..., readonly=True), unchanged since the last check": lambda: _time_open(runs_dir, readonly=True),
        }
        _time_pragma(path, "quick_check")  # warm the page cache
        print(f"{'check at start-up':<58} {'median s':>9} {'min s':>7} {'MB/s':>7}")
        for name, fn in cases.items():
            times = [fn() for _ in range(args.repeat)]
            med = statistics.median(times)
            print(f"{name:<58} {med:>9.3f} {min(times):>7.3f} {size / med:>7.0f}")


if __name__ == "__main__":
    main()
