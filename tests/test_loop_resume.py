"""Resume re-pays nothing: a steady-state run in a real subprocess, killed with SIGKILL while proposals are in
flight, then resumed with --resume. Every proposal's prompt was persisted before its call, so the resumed run
re-issues exactly the pending ones; answers paid before the kill come from the store's response cache."""

import collections
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from discover.store import Store
from tests.loop_helpers import LINEAR

ROOT = Path(__file__).resolve().parent.parent


def _cmd(runs, *extra):
    return [sys.executable, "-m", "discover", "evolve", "--problem", LINEAR, "--model", "fake/any", "--generations", "4",
            "--population", "4", "--llm-concurrency", "3", "--sandbox", "process", "--runs-dir", str(runs),
            "--progress", "quiet", *extra]


def _env(**kw):
    return {**os.environ, "DISCOVER_FAKE_RESPONDER": f"{ROOT / 'tests' / 'fake_responder.py'}:respond",
            "COLUMNS": "200", **kw}


def _paid(store, run_id):
    return [r["key"] for r in store.llm_calls(run_id) if not r["cached"] and r["error"] is None]


def test_sigkill_mid_run_then_resume_repays_nothing(tmp_path):
    runs = tmp_path / "runs"
    proc = subprocess.Popen(_cmd(runs), env=_env(FAKE_DELAY_S="0.6"), cwd=ROOT, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 120
        killed_at = None
        while time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.1)
            if not (runs / "discover.db").exists():
                continue
            store = Store(runs)
            run = store.list_runs()[0] if store.list_runs() else None
            if run is None:
                continue
            pending = store.proposals(run.id, status="pending")
            if len(_paid(store, run.id)) >= 4 and pending:
                proc.send_signal(signal.SIGKILL)
                killed_at = (run.id, len(_paid(store, run.id)))
                break
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert killed_at is not None, proc.stderr.read().decode()[-2000:]
    run_id, _ = killed_at
    store = Store(runs)
    before = set(_paid(store, run_id))
    assert store.get_run(run_id).status == "crashed"
    in_flight = store.proposals(run_id, status="pending")
    assert in_flight  # prompts persisted before their calls, answers never came

    out = subprocess.run(_cmd(runs, "--resume", run_id[:12]), env=_env(FAKE_OFFSET="1000"), cwd=ROOT,
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert store.get_run(run_id).status == "finished"
    paid = _paid(store, run_id)
    assert max(collections.Counter(paid).values()) == 1  # no prompt was paid for twice
    assert before <= set(paid)
    proposals = store.proposals(run_id)
    assert len(proposals) == 4 * 4 - 1 and {p.status for p in proposals} == {"done"}
    # the killed ones were re-issued with their stored prompts: each is answered and has its candidate
    again = {p.idx: p for p in proposals}
    for p in in_flight:
        assert again[p.idx].messages == p.messages and again[p.idx].candidate_id is not None
    assert len(store.candidates(run_id)) == 4 * 4
