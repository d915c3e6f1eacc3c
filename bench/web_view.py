"""How long the web view's JSON takes on a large run (the page polls /api/runs/<id> every 2 s while a run writes).

    .venv/bin/python bench/web_view.py [N candidates, default 1000]

Builds a store with N candidates (each with a train evaluation of 64 instances, a test evaluation for every tenth,
an LLM call behind each), then times run_view, candidate_view and the report's collect: median of 5."""

from __future__ import annotations

import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from discover.store import Store
from tests.loop_helpers import LINEAR
from tests.test_web_helpers import llm_call, result


def build(root: Path, n: int) -> tuple[Path, str, str]:
    store = Store(root)
    rid = store.create_run(problem="linear", problem_dir=LINEAR, kind="code", strategy="eoh", model="fake/b",
                           sandbox="process", config={}, run_id="bench-run")
    parent = None
    last = ""
    for i in range(n):
        key = f"k{i}"
        llm_call(store, rid, key, "prompt " * 200, "response " * 100)
        cid = store.add_candidate(run_id=rid, generation=i // 10, slot=i % 10, operator="e1", parent_ids=[parent] if parent else [],
                                  thought="t", code=f"def solve(x):\n    return {i} * x\n", code_hash=str(i), llm_call_key=key,
                                  status="pending")
        store.finish_candidate(cid, status="evaluated", train_score=float(n - i), valid=True)
        store.add_evaluation(cid, "train", "train", result("ok", float(n - i), {f"i{j}": {"score": 1.0} for j in range(64)}))
        if i % 10 == 0:
            store.add_evaluation(cid, "test", "test_small", result("ok", 1.0, {"a": {"score": 1.0}}))
            store.add_evaluation(cid, "test", "test_big", result("ok", 1.0, {"b": {"score": 1.0}}))
        parent = cid if i % 3 == 0 else parent
        last = cid
    store.close()
    return root, rid, last


def median_s(fn, repeat: int = 5) -> float:
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def main() -> None:
    from discover.review.report import collect
    from discover.web.data import candidate_view, open_store, run_view

    n = int(sys.argv[1]) if len(sys.argv) > 1 else 1000
    with tempfile.TemporaryDirectory() as tmp:
        runs, rid, last = build(Path(tmp) / "runs", n)
        store = open_store(runs)
        size = len(json.dumps(run_view(store, rid), default=str))
        from discover.review.report import write_report
        from discover.web.server import make_server

        report = write_report(store, rid, Path(tmp) / "report.html")
        srv = make_server(runs, port=0)
        srv.run_view(rid)
        cached = median_s(lambda: srv.run_view(rid))
        srv.server_close()
        print(f"{n} candidates: served poll with nothing new {cached * 1000:.0f} ms; run_view {median_s(lambda: run_view(store, rid)) * 1000:.0f} ms "
              f"({size / 1024:.0f} KiB JSON), candidate_view {median_s(lambda: candidate_view(store, last)) * 1000:.0f} ms, "
              f"report collect {median_s(lambda: collect(store, rid), 1):.1f} s (once), "
              f"report file {report.stat().st_size / 1e6:.1f} MB")


if __name__ == "__main__":
    main()
