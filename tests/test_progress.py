"""The progress displays, fed real RunEvents through a real EventBus: plain log lines written (and flushed) as events
arrive, a heartbeat while nothing happens, JSON lines with a schema, the terminal view's ticking phases, retries and
ETA, and quiet mode writing nothing."""

from __future__ import annotations

import io
import json
import time

import pytest
from rich.console import Console

from discover.events import EventBus, RunEvent
from discover.progress import (
    ProgressState,
    TerminalProgress,
    budget_line,
    candidate_line,
    eta_s,
    slot_lines,
    watch,
)

HEADER = dict(problem="tsp", target="code", strategy="eoh", model="local/qwen2.5-coder-0.5b", sandbox="bwrap")
BUDGET = dict(llm_calls=10, max_llm_calls=40, cost_usd=0.0, max_cost_usd=None, elapsed_s=100.0, timeout_s=None,
              proposals=12, max_proposals=None)


def emit_run(bus: EventBus) -> None:
    bus.emit("run_started", "r1", **HEADER)
    bus.emit("phase", "r1", slot=0, phase="asking the model")
    bus.emit("llm_retry", "r1", slot=0, attempt=1, delay_s=2.0, error="RateLimitError: 429 slow down")
    bus.emit("phase", "r1", slot=1, phase="evaluating c3 on train50")
    bus.emit("candidate", "r1", id="c3aaaaaaaaaa", operator="e1", status="evaluated", score=0.2314,
             parent_score=0.25, delta=-0.0186, error=None, is_best=True)
    bus.emit("candidate", "r1", id="c4bbbbbbbbbb", operator="m2", status="error", score=None, parent_score=0.2314,
             delta=None, error="NameError: name 'np' is not defined\n  File x line 3", is_best=False)
    bus.emit("budget", "r1", **BUDGET)
    bus.emit("test_scoring", "r1", done=1, total=3, candidate="c3aaaaaa")
    bus.emit("run_finished", "r1", status="stopped", stop_reason="LLM call budget reached (40)")


def test_plain_lines_are_written_as_each_event_arrives():
    out = io.StringIO()
    with watch(Console(file=io.StringIO()), mode="plain", stream=out, heartbeat_s=60) as show:
        bus = EventBus(show)
        bus.emit("run_started", "r1", **HEADER)
        assert "run r1 · tsp · code · eoh · local/qwen2.5-coder-0.5b" in out.getvalue()  # already there, not at the end
        bus.emit("phase", "r1", slot=0, phase="asking the model")
        assert out.getvalue().rstrip().endswith("slot 0: asking the model")
        emit_run(bus)
    text = out.getvalue()
    assert "WARNING slot 0: LLM call failed (RateLimitError: 429 slow down); retry 1 in 2 s" in text
    assert "c3aaaaaa e1     evaluated    0.2314  (-0.0186 vs parent 0.25)  * new best" in text
    assert "c4bbbbbb m2     error" in text and "NameError: name 'np' is not defined File x line 3" in text
    assert "scoring on test: 1/3 (c3aaaaaa)" in text
    last = text.strip().splitlines()[-1]
    assert "run stopped: LLM call budget reached (40)" in last and "LLM calls 10/40" in last and "1 error, 1 evaluated" in last


def test_plain_heartbeat_while_nothing_happens():
    out = io.StringIO()
    with watch(Console(file=io.StringIO()), mode="plain", stream=out, heartbeat_s=0.3) as show:
        bus = EventBus(show)
        bus.emit("run_started", "r1", **HEADER)
        bus.emit("phase", "r1", slot=0, phase="asking the model")
        deadline = time.time() + 5
        while "still running" not in out.getvalue() and time.time() < deadline:
            time.sleep(0.05)
    beat = next(line for line in out.getvalue().splitlines() if "still running" in line)
    assert "slot 0: asking the model, 0 s" in beat or "slot 0: asking the model, 1 s" in beat
    assert "elapsed" in beat


def test_json_lines_carry_a_schema_and_every_event():
    out = io.StringIO()
    with watch(Console(file=io.StringIO()), mode="json", stream=out) as show:
        emit_run(EventBus(show))
    rows = [json.loads(line) for line in out.getvalue().splitlines()]
    assert {r["schema"] for r in rows} == {"discover.event/1"}
    assert [r["kind"] for r in rows] == ["run_started", "phase", "llm_retry", "phase", "candidate", "candidate",
                                         "budget", "test_scoring", "run_finished"]
    assert rows[4]["id"] == "c3aaaaaaaaaa" and rows[4]["delta"] == -0.0186


def test_quiet_writes_nothing():
    out, con = io.StringIO(), io.StringIO()
    with watch(Console(file=con), mode="quiet", stream=out) as show:
        emit_run(EventBus(show))
    assert out.getvalue() == "" and con.getvalue() == ""


def test_auto_is_plain_off_a_terminal_and_bad_modes_are_refused():
    out = io.StringIO()
    with watch(Console(file=out, force_terminal=False), mode="auto") as show:
        EventBus(show).emit("phase", "r1", slot=2, phase="tuning c5")
    assert "slot 2: tuning c5" in out.getvalue()
    with pytest.raises(ValueError, match="progress mode 'loud'"):
        with watch(Console(file=io.StringIO()), mode="loud"):
            pass


def test_terminal_view_ticks_between_events():
    out = io.StringIO()
    view = TerminalProgress(Console(file=out, force_terminal=True, width=140, color_system=None))
    now = time.time()
    view(RunEvent("run_started", "r1", HEADER, ts=now - 100))
    view(RunEvent("phase", "r1", {"slot": 0, "phase": "asking the model"}, ts=now - 12))
    view(RunEvent("phase", "r1", {"slot": 1, "phase": "evaluating c3 on train50"}, ts=now - 3))
    view(RunEvent("llm_retry", "r1", {"slot": 0, "attempt": 2, "delay_s": 30, "error": "Timeout"}, ts=now - 10))
    view(RunEvent("budget", "r1", BUDGET, ts=now - 20))
    lines = slot_lines(view.state, now)
    assert lines[0].startswith("slot 0: asking the model, 12 s · retry 2 in 20 s after Timeout")
    assert lines[1] == "slot 1: evaluating c3 on train50, 3 s"
    # elapsed keeps moving: 100 s reported 20 s ago
    assert "elapsed 2 min 0 s" in budget_line(view.state, now)
    later = budget_line(view.state, now + 5)
    assert "elapsed 2 min 5 s" in later
    view(RunEvent("candidate", "r1", {"id": "c9", "operator": "e2", "status": "evaluated", "score": 1.5,
                                      "is_best": False, "error": "[red]x[/red] :train:"}))
    printed = out.getvalue()
    assert "[red]x[/red] :train:" in printed  # user text stays text: no markup, no emoji


def test_eta_from_the_budget_that_runs_out_first():
    assert eta_s({"llm_calls": 10, "max_llm_calls": 40}, 100.0) == (300.0, "LLM calls")
    assert eta_s({"llm_calls": 10, "max_llm_calls": 40, "timeout_s": 150}, 100.0) == (50.0, "time")
    assert eta_s({"llm_calls": 0, "max_llm_calls": 40}, 100.0) is None
    assert eta_s({}, 100.0) is None


def test_phase_end_and_finished_clear_the_slots():
    s = ProgressState()
    s.apply(RunEvent("phase", "r1", {"slot": 0, "phase": "asking the model"}))
    s.apply(RunEvent("phase", "r1", {"slot": 0, "phase": None}))
    assert s.slots == {}
    s.apply(RunEvent("phase", "r1", {"slot": 1, "phase": "evaluating"}))
    s.apply(RunEvent("run_finished", "r1", {"status": "finished"}))
    assert s.slots == {} and s.finished == {"status": "finished"}


def test_candidate_line_without_parent_or_error():
    line = candidate_line({"id": "abcdef123456", "operator": "seed", "status": "evaluated", "score": 23.15})
    assert line.split() == ["abcdef12", "seed", "evaluated", "23.15"]


def test_quiet_and_log_json_flags_pick_the_mode():
    from discover.progress import mode_from_flags

    assert mode_from_flags("auto") == "auto" and mode_from_flags("plain", quiet=True) == "quiet"
    assert mode_from_flags(log_json=True) == "json"
    with pytest.raises(ValueError, match="contradict"):
        mode_from_flags(quiet=True, log_json=True)
