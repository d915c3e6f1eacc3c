"""The CLI as a user runs it: a real process, real signals, one-line errors and exit codes."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from discover.store import Store
from tests.loop_helpers import LINEAR

ROOT = Path(__file__).resolve().parent.parent
DISCOVER = [sys.executable, "-c", "from discover.cli import main; main()"]


def env(tmp_path, **extra):
    e = dict(os.environ, DISCOVER_RUNS_DIR=str(tmp_path / "runs"),
             DISCOVER_FAKE_RESPONDER=str(ROOT / "tests" / "fake_responder.py") + ":respond", COLUMNS="200")
    e.update(extra)
    return e


def run(args, tmp_path, timeout=180, **extra):
    return subprocess.run(DISCOVER + args, capture_output=True, text=True, timeout=timeout, env=env(tmp_path, **extra),
                          cwd=tmp_path)


EVOLVE = ["evolve", "--problem", LINEAR, "--model", "fake/cli", "--generations", "2", "--population", "3",
          "--llm-concurrency", "1"]


def test_evolve_prints_results_and_where_the_run_is(tmp_path):
    out = run(EVOLVE, tmp_path)
    assert out.returncode == 0, out.stderr
    assert "Held-out test scores" in out.stdout and "zero (baseline)" in out.stdout
    assert "Stopped: all 2 generations done." in out.stdout
    assert f"stored in {tmp_path / 'runs' / 'discover.db'}" in out.stdout.replace("\n", "")


def test_process_sandbox_warns_once_in_one_line(tmp_path):
    out = run(EVOLVE[:3] + ["--model", "fake/cli", "--generations", "1", "--population", "2", "--sandbox", "process"],
              tmp_path)
    assert out.returncode == 0, out.stderr
    from discover.sandbox.process import isolation_note

    lines = [line for line in out.stderr.splitlines() if "sandbox is weak" in line]
    assert lines == [f"warning: the 'process' sandbox is weak: {isolation_note()}"]
    assert "RuntimeWarning" not in out.stderr and "sandbox process" in out.stdout
    assert "\nStopped: all 1 generations done." in out.stdout  # on its own line after the progress table


def _wait_for_candidates(tmp_path, n, proc, limit=60):
    deadline = time.time() + limit
    while time.time() < deadline:
        if (tmp_path / "runs" / "discover.db").exists():
            store = Store(tmp_path / "runs")
            runs = store.list_runs()
            if runs and len(store.candidates(runs[0].id)) >= n:
                return runs[0].id
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.1)
    raise AssertionError("run made no progress")


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM, signal.SIGKILL])
def test_ctrl_c_and_kill_mid_run_then_resume(tmp_path, sig):
    # Started the way a non-interactive shell starts a background job: with SIGINT ignored. Ctrl-C must still work.
    ignore_sigint = (lambda: signal.signal(signal.SIGINT, signal.SIG_IGN)) if sig == signal.SIGINT else None
    proc = subprocess.Popen(DISCOVER + EVOLVE + ["--generations", "4"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=env(tmp_path, FAKE_DELAY_S="0.3"), cwd=tmp_path, preexec_fn=ignore_sigint)
    run_id = _wait_for_candidates(tmp_path, 4, proc)
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=60)
    store = Store(tmp_path / "runs")
    kept = store.candidates(run_id)
    if sig in (signal.SIGINT, signal.SIGTERM):
        assert proc.returncode == 130
        assert f"Resume with: discover evolve --resume {run_id}" in " ".join(err.split())
        # one readable error, no asyncio debris (half-cancelled tasks' tracebacks) after it
        assert err.strip().startswith("error: interrupted") and err.count("\n") <= 2, err
        assert "Traceback" not in err and "Task was destroyed" not in err, err
        stopped = store.get_run(run_id)
        assert stopped.status == "stopped" and stopped.stop_reason == (
            "interrupted (Ctrl-C)" if sig == signal.SIGINT else "interrupted (SIGTERM)")
    else:
        assert store.get_run(run_id).status == "crashed"
    out = run(["evolve", "--resume", run_id[:12]], tmp_path)
    assert out.returncode == 0, out.stderr
    after = store.candidates(run_id)
    assert {c.id for c in kept} <= {c.id for c in after}  # nothing recorded was lost
    assert len(after) == 1 + 2 + 3 * 3
    paid = [r["key"] for r in store.llm_calls(run_id) if not r["cached"] and r["error"] is None]
    assert len(paid) == len(set(paid))  # nothing paid twice


def test_eval_scores_a_users_file_as_json(tmp_path):
    f = tmp_path / "mine.py"
    f.write_text("def solve(x):\n    return 3 * x\n")
    out = run(["eval", "--problem", LINEAR, str(f), "--json"], tmp_path)
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    assert data["results"]["test_small"]["score"] == pytest.approx(1.0)
    assert data["results"]["test_big"]["status"] == "ok"


@pytest.mark.parametrize("args,code,message", [
    (["evolve", "--problem", "no-such-problem"], 3, "error: no problem named 'no-such-problem'"),
    (["evolve", "--problem", LINEAR, "--generations", "0"], 2, "error: options: generations: Input should be greater"),
    (["evolve", "--resume", "nope"], 4, "error: no run database at"),
    (["evolve", "--problem", LINEAR, "--model", "openai/gpt-4o-mini", "--generations", "1"], 5,
     "error: openai/gpt-4o-mini needs OPENAI_API_KEY"),
])
def test_errors_are_one_line_with_an_exit_code(tmp_path, args, code, message):
    (tmp_path / "runs").mkdir()
    out = run(args, tmp_path, OPENAI_API_KEY="")
    assert out.returncode == code, out.stderr
    assert out.stderr.strip().startswith(message), out.stderr
    assert len(out.stderr.strip().splitlines()) == 1


def test_usage_errors_are_short_not_tracebacks(tmp_path):
    out = run(["evolve", "--problem", LINEAR, "extra-argument"], tmp_path)
    assert out.returncode == 2 and "Traceback" not in out.stderr
    assert "unexpected extra argument" in out.stderr


def test_corrupt_run_database_is_one_line(tmp_path):
    (tmp_path / "runs").mkdir()
    (tmp_path / "runs" / "discover.db").write_bytes(b"garbage" * 1000)
    out = run(EVOLVE, tmp_path)
    assert out.returncode == 4 and "is not a discover run database or is corrupt" in out.stderr
    assert len(out.stderr.strip().splitlines()) == 1


def test_problem_new_then_check(tmp_path):
    out = run(["problem", "new", "knap", "--dir", str(tmp_path / "mine")], tmp_path)
    assert out.returncode == 0, out.stderr
    out = run(["problem", "check", str(tmp_path / "mine" / "knap")], tmp_path)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "all" in out.stdout and "checks passed" in out.stdout
