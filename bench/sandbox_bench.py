"""Sandbox overhead per backend: a trivial candidate on the toy problem.

Prints, per usable backend: mean time of one evaluation through the warm pool minus the same evaluation
in-process (overhead), evaluations/s with the warm pool (N workers in parallel), and the cost of a fresh
process per candidate (python runner.py once) for comparison.   Usage: python bench/sandbox_bench.py [N]
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import subprocess
import sys
import time
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "sandbox"))

from discover.sandbox import EvalRequest, available_backends, open_sandbox  # noqa: E402

TOY = ROOT / "tests" / "fixtures" / "problems" / "toy"
CODE = "def solve(x):\n    return 2 * x\n"
REQ = EvalRequest(code=CODE, problem_dir=TOY, instance_set="train", timeout_s=10, memory_mb=512)


def in_process(n: int) -> float:
    import runner  # sandbox/runner.py: the same load + evaluate path, no fork, no isolation

    req = {"code": CODE, "problem_dir": str(TOY), "instance_set": "train"}
    runner.evaluate_request(req)
    t = time.perf_counter()
    for _ in range(n):
        runner.evaluate_request(req)
    return (time.perf_counter() - t) / n


def fresh_process(n: int) -> float:
    req = json.dumps({"code": CODE, "problem_dir": str(TOY), "instance_set": "train", "timeout_s": 10}).encode()
    ts = []
    for _ in range(n):
        t = time.perf_counter()
        subprocess.run([sys.executable, "-I", str(ROOT / "sandbox" / "runner.py"), "once"], input=req,
                       capture_output=True, check=True)
        ts.append(time.perf_counter() - t)
    return statistics.median(ts)


def main() -> None:
    workers = int(sys.argv[1]) if len(sys.argv) > 1 else 2
    rows = []
    fresh = fresh_process(10)
    print(f"# machine: {platform.node()} {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}")
    print(f"# date: {time.strftime('%Y-%m-%d %H:%M %Z')}")
    print(f"# fresh process per candidate (python runner.py once, no sandbox, no numpy): {fresh * 1e3:.1f} ms")
    header = (f"| backend | worker start (s) | serial eval (ms, median) | overhead vs in-process (ms) | evals/s, {workers} workers |")

    for name, reason in available_backends().items():
        if reason:
            rows.append((name, reason, 0, 0, 0))
            continue
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            sb = open_sandbox(name, workers=workers)
        with sb:
            t = time.perf_counter()
            sb.warm_up(TOY)
            start = time.perf_counter() - t
            for _ in range(10):
                sb.evaluate(REQ)
            ts = []
            for _ in range(100):
                t = time.perf_counter()
                r = sb.evaluate(REQ)
                ts.append(time.perf_counter() - t)
                assert r.status == "ok", r
            med = statistics.median(ts)
            n = 200
            t = time.perf_counter()
            rs = sb.evaluate_many([REQ] * n)
            rate = n / (time.perf_counter() - t)
            assert all(r.status == "ok" for r in rs)
        rows.append((name, None, start, med, rate))
    # last: evaluate_request installs the runner's audit hook (no sockets) into this process for good
    base = in_process(200)
    print(f"# in-process evaluation (load candidate + evaluator, 3 instances): {base * 1e3:.2f} ms")
    print()
    print(header)
    print("|---|---|---|---|---|")
    for name, reason, start, med, rate in rows:
        if reason:
            print(f"| {name} | unavailable: {reason} | | | |")
        else:
            print(f"| {name} | {start:.2f} | {med * 1e3:.2f} | {(med - base) * 1e3:.2f} | {rate:.0f} |")


if __name__ == "__main__":
    main()
