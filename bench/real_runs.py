"""Real runs with the embedded model, started the way a user starts them (the `discover` CLI), summarised from the
run store. The numbers in bench/RESULTS.md ("Evolve: a real TSP run", "Prompt optimization") come from this.

    python bench/real_runs.py evolve                 # discover evolve --problem tsp --max-llm-calls 30
    python bench/real_runs.py prompt --task sum      # discover prompt --task sum, 20 train / 30 test, 3 x 3

Prints one table: wall clock, peak memory of the run's process, paid LLM calls and tokens, time inside LLM calls,
candidate outcomes, best train/test score (and the start's, for prompt runs). Takes minutes (2-core machine:
evolve about 9, prompt about 2)."""

from __future__ import annotations

import argparse
import json
import platform
import resource
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

DISCOVER = [sys.executable, "-m", "discover"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("job", choices=["evolve", "prompt"])
    ap.add_argument("--max-llm-calls", type=int, default=30)
    ap.add_argument("--task", default="sum")
    ap.add_argument("--runs-dir", type=Path, default=None, help="default: a fresh temporary directory")
    args = ap.parse_args()
    runs = args.runs_dir or Path(tempfile.mkdtemp(prefix="discover-bench-"))
    if args.job == "evolve":
        cmd = ["evolve", "--problem", "tsp", "--max-llm-calls", str(args.max_llm_calls)]
    else:
        cmd = ["prompt", "--task", args.task, "--max-train", "20", "--max-test", "30", "--steps", "3",
               "--candidates", "3"]
    start = time.monotonic()
    proc = subprocess.run(DISCOVER + cmd + ["--runs-dir", str(runs)], capture_output=True, text=True)
    wall = time.monotonic() - start
    if proc.returncode != 0:
        sys.exit(f"discover {' '.join(cmd)} failed ({proc.returncode}): {proc.stderr.strip()[-500:]}")
    rss_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    info = json.loads(subprocess.run(DISCOVER + ["runs", "--json", "--runs-dir", str(runs)], capture_output=True,
                                     text=True, check=True).stdout)["runs"][0]

    from discover.store import Store

    store = Store(runs, create=False)
    calls = [r for r in store.llm_calls(info["id"]) if not r["cached"] and r["error"] is None]
    def num(x):
        return "—" if x is None else f"{x:.4g}"

    outcomes = Counter(c.status if c.status != "evaluated" else ("valid" if c.valid else "not valid")
                       for c in store.candidates(info["id"]))
    rows = [
        ("command", "discover " + " ".join(cmd)),
        ("run", f"{info['id']} ({info['status']}: {info['stop_reason']})"),
        ("wall clock", f"{wall:.0f} s"),
        ("peak memory (max RSS)", f"{rss_mb:.0f} MB"),
        ("paid LLM calls", f"{len(calls)} (" + ", ".join(f"{k} {v}" for k, v in Counter(r["role"] for r in calls).most_common()) + ")"),
        ("time inside LLM calls", f"{sum(r['latency_s'] for r in calls):.0f} s"),
        ("prompt / completion tokens", f"{info['prompt_tokens']} / {info['completion_tokens']}"),
        ("candidates", ", ".join(f"{k} {v}" for k, v in sorted(outcomes.items()))),
        ("best train / test", f"{num(info['best_train'])} / {num(info['best_test'])}"),
    ]
    if args.job == "prompt":
        start_row = next(c for c in store.candidates(info["id"]) if c.operator == "start")
        test = store.evaluations(start_row.id, "test")
        rows.append(("start train / test", f"{num(start_row.train_score)} / {num(test[0].score if test else None)}"))
    print(f"# {platform.node()} {platform.machine()}, Python {platform.python_version()}, "
          f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}")
    print("| measure | value |\n|---|---|")
    for k, v in rows:
        print(f"| {k} | {v} |")


if __name__ == "__main__":
    main()
