"""Watching a run as it happens: subscribers for the loop's run events (discover.events).

    from discover.progress import watch
    with watch(console, mode="auto") as show:     # auto | terminal | plain | json | quiet
        bus.subscribe(show)
        ... run ...

- terminal: a rich Live view redrawn every second from the events received so far: what each in-flight slot is
  doing and for how long ("asking the model, 12 s"), retries while they wait, test scoring, budget used and an ETA
  from the budget; one line per finished candidate scrolls above it and stays.
- plain (auto off a terminal: nohup, SLURM, CI): the same content as flushed log lines through `logging`
  (logger "discover.progress"), plus a heartbeat line while nothing happens, so a log never sits silent.
- json: each event as one JSON object per line (`schema` "discover.event/1"), flushed.
- quiet: nothing.

`ProgressState` folds events into what is shown; the formatting functions are shared by every mode.
"""

from __future__ import annotations

import json
import logging
import sys
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator, Literal, TextIO

from rich.console import Console, Group
from rich.live import Live
from rich.text import Text

from discover.events import RunEvent

Mode = Literal["auto", "terminal", "plain", "json", "quiet"]
MODES = ("auto", "terminal", "plain", "json", "quiet")
LOGGER = "discover.progress"


# -- state -----------------------------------------------------------------------------------------------
@dataclass
class Slot:
    phase: str
    since: float


@dataclass
class Retry:
    attempt: int
    delay_s: float
    error: str
    since: float


@dataclass
class ProgressState:
    """Everything the displays show, folded from events. Thread-safe: events may arrive from worker threads while
    the terminal view redraws."""

    run_id: str = ""
    header: dict[str, Any] = field(default_factory=dict)
    slots: dict[Any, Slot] = field(default_factory=dict)
    retries: dict[Any, Retry] = field(default_factory=dict)
    budget: dict[str, Any] = field(default_factory=dict)
    budget_at: float | None = None       # when the last budget event was emitted (its elapsed_s was true then)
    started_at: float | None = None
    test_scoring: dict[str, Any] | None = None
    counts: dict[str, int] = field(default_factory=dict)   # candidate status -> how many
    best_score: float | None = None
    best_id: str | None = None
    finished: dict[str, Any] | None = None
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def apply(self, e: RunEvent) -> None:
        with self.lock:
            self.run_id = e.run_id or self.run_id
            d = e.data
            if e.kind == "run_started":
                self.header = dict(d)
                self.started_at = e.ts
                for k in ("max_llm_calls", "max_cost_usd", "timeout_s", "max_proposals"):  # limits before any spend
                    if d.get(k) is not None:
                        self.budget.setdefault(k, d[k])
                self.budget.setdefault("llm_calls", 0)
            elif e.kind == "phase":
                slot = d.get("slot")
                phase = d.get("phase")
                if phase:
                    if slot not in self.slots or self.slots[slot].phase != phase:
                        self.slots[slot] = Slot(str(phase), e.ts)
                    self.retries.pop(slot, None)  # a new phase means the retry is over
                else:
                    self.slots.pop(slot, None)  # phase None/"": the slot is idle
                    self.retries.pop(slot, None)
            elif e.kind == "llm_retry":
                self.retries[d.get("slot")] = Retry(int(d.get("attempt") or 0), float(d.get("delay_s") or 0),
                                                    str(d.get("error") or ""), e.ts)
            elif e.kind == "candidate":
                status = str(d.get("status") or "?")
                self.counts[status] = self.counts.get(status, 0) + 1
                if d.get("is_best"):
                    self.best_score, self.best_id = d.get("score"), d.get("id")
            elif e.kind == "budget":
                self.budget = dict(d)
                self.budget_at = e.ts
            elif e.kind == "test_scoring":
                self.test_scoring = dict(d)
                if d.get("total") is not None and d.get("done") is not None and d["done"] >= d["total"]:
                    self.test_scoring = None
            elif e.kind == "run_finished":
                self.finished = dict(d)
                self.slots.clear()
                self.retries.clear()
                self.test_scoring = None

    def elapsed_s(self, now: float) -> float | None:
        """Elapsed run time now: the last reported elapsed plus the time since it was reported (so it ticks)."""
        if self.budget.get("elapsed_s") is not None and self.budget_at is not None:
            return float(self.budget["elapsed_s"]) + max(0.0, now - self.budget_at)
        if self.started_at is not None:
            return max(0.0, now - self.started_at)
        return None


# -- formatting (shared by every mode) -----------------------------------------------------------------------
def duration(s: float | None) -> str:
    if s is None:
        return "—"
    s = max(0.0, s)
    if s < 60:
        return f"{s:.0f} s"
    if s < 3600:
        return f"{int(s // 60)} min {int(s % 60)} s"
    return f"{int(s // 3600)} h {int(s % 3600 // 60)} min"


def score(x: Any) -> str:
    return "—" if not isinstance(x, (int, float)) else f"{x:.4g}"


def few_words(text: Any, n: int = 60) -> str:
    words = " ".join(str(text or "").split())
    return words if len(words) <= n else words[: n - 1] + "…"


def eta_s(budget: dict[str, Any], elapsed: float | None) -> tuple[float, str] | None:
    """Seconds left until the first budget runs out, at the pace so far, and which budget that is."""
    if not elapsed or elapsed <= 0:
        return None
    guesses: list[tuple[float, str]] = []
    if budget.get("timeout_s"):
        guesses.append((float(budget["timeout_s"]) - elapsed, "time"))
    for used, limit, name in (("llm_calls", "max_llm_calls", "LLM calls"), ("cost_usd", "max_cost_usd", "cost"),
                              ("proposals", "max_proposals", "proposals")):
        u, m = budget.get(used), budget.get(limit)
        if m and u:
            guesses.append((elapsed * (float(m) - float(u)) / float(u), name))
    return min(((max(0.0, s), n) for s, n in guesses), default=None)


def budget_line(state: ProgressState, now: float) -> str:
    b = state.budget
    elapsed = state.elapsed_s(now)
    parts = []
    if "llm_calls" in b:
        parts.append(f"LLM calls {b['llm_calls']}" + (f"/{b['max_llm_calls']}" if b.get("max_llm_calls") else ""))
    if b.get("cost_usd") or b.get("max_cost_usd"):
        parts.append(f"${float(b.get('cost_usd') or 0):.4f}" + (f"/{float(b['max_cost_usd']):.2f}" if b.get("max_cost_usd") else ""))
    if b.get("max_proposals"):
        parts.append(f"proposals {b.get('proposals') or 0}/{b['max_proposals']}")
    parts.append(f"elapsed {duration(elapsed)}" + (f"/{duration(float(b['timeout_s']))}" if b.get("timeout_s") else ""))
    eta = eta_s(b, elapsed) if state.finished is None else None
    if eta is not None:
        parts.append(f"ETA {duration(eta[0])} ({eta[1]})")
    if state.counts:
        parts.append(", ".join(f"{n} {k}" for k, n in sorted(state.counts.items())))
    if state.best_score is not None:
        parts.append(f"best {score(state.best_score)}")
    return " · ".join(parts)


def slot_name(slot: Any) -> str:
    return "run" if slot is None else f"slot {slot}"


def slot_lines(state: ProgressState, now: float) -> list[str]:
    lines = []
    for slot, s in sorted(state.slots.items(), key=lambda kv: (kv[0] is not None, str(kv[0]))):
        line = f"{slot_name(slot)}: {s.phase}, {duration(now - s.since)}"
        r = state.retries.get(slot)
        if r is not None:
            line += f" · retry {r.attempt} in {duration(max(0.0, r.since + r.delay_s - now))} after {few_words(r.error, 50)}"
        lines.append(line)
    for slot, r in state.retries.items():
        if slot not in state.slots:
            lines.append(f"{slot_name(slot)}: retry {r.attempt} in {duration(max(0.0, r.since + r.delay_s - now))} "
                         f"after {few_words(r.error, 50)}")
    if state.test_scoring:
        t = state.test_scoring
        lines.append(f"scoring on test: {t.get('done')}/{t.get('total')}" + (f" ({t['candidate']})" if t.get("candidate") else ""))
    return lines


def candidate_line(d: dict[str, Any]) -> str:
    """One finished candidate: id, operator, outcome, score, change vs parent, the error in a few words."""
    cid = str(d.get("id") or "?")[:8]
    parts = [f"{cid} {d.get('operator') or '?':<6} {d.get('status') or '?':<10} {score(d.get('score')):>8}"]
    delta = d.get("delta")
    if isinstance(delta, (int, float)):
        parts.append(f"({delta:+.4g} vs parent {score(d.get('parent_score'))})")
    if d.get("error"):
        parts.append(few_words(d["error"]))
    if d.get("is_best"):
        parts.append("* new best")
    return "  ".join(parts)


def header_line(h: dict[str, Any], run_id: str) -> str:
    keys = ("problem", "kind", "target", "strategy", "model", "executor")
    parts = [f"run {run_id}", *(f"{h[k]}" for k in keys if h.get(k))]
    if h.get("sandbox"):
        parts.append(f"sandbox {h['sandbox']}")
    return " · ".join(str(p) for p in parts)


def retry_line(slot: Any, d: dict[str, Any]) -> str:
    return (f"{slot_name(slot)}: LLM call failed ({few_words(d.get('error'), 80)}); retry {d.get('attempt')} "
            f"in {duration(float(d.get('delay_s') or 0))}")


def finished_line(d: dict[str, Any]) -> str:
    return f"run {d.get('status') or 'finished'}" + (f": {d['stop_reason']}" if d.get("stop_reason") else "")


# -- subscribers ------------------------------------------------------------------------------------------------
class TerminalProgress:
    """rich Live view, redrawn every second from the state (so times tick between events)."""

    def __init__(self, console: Console, refresh_per_second: float = 1.0) -> None:
        self.console = console
        self.state = ProgressState()
        self.live = Live(self, console=console, refresh_per_second=refresh_per_second, transient=True,
                         redirect_stdout=False, redirect_stderr=False)

    def __rich__(self) -> Group:
        now = time.time()
        with self.state.lock:
            rows = [Text(line, style="cyan") for line in slot_lines(self.state, now)]  # the header is printed above
            rows.append(Text(budget_line(self.state, now), style="dim"))
        return Group(*rows)

    def __call__(self, e: RunEvent) -> None:
        self.state.apply(e)
        # markup and emoji off: ids, operators and errors are text from elsewhere, never rich markup
        if e.kind == "candidate":
            self.console.print(candidate_line(e.data), markup=False, emoji=False, highlight=False,
                               style="green" if e.data.get("is_best") else None)
        elif e.kind == "llm_retry":
            self.console.print(retry_line(e.data.get("slot"), e.data), markup=False, emoji=False, highlight=False,
                               style="yellow")
        elif e.kind == "run_started":
            self.console.print(header_line(self.state.header, e.run_id), markup=False, emoji=False, highlight=False,
                               style="bold")
            if e.data.get("isolation_note"):
                self.console.print(f"note: {e.data['isolation_note']}", markup=False, emoji=False, highlight=False,
                                   style="yellow" if e.data.get("sandbox") == "process" else "dim")
        elif e.kind == "run_finished":
            self.console.print(finished_line(e.data) + " · " + budget_line(self.state, time.time()), markup=False,
                               emoji=False, highlight=False)
        self.live.refresh()

    def start(self) -> None:
        self.live.start()

    def stop(self) -> None:
        self.live.stop()


class PlainProgress:
    """Flushed log lines (logging): each event that matters, plus a heartbeat every `heartbeat_s` of silence that
    says what each slot is doing and the budget."""

    def __init__(self, logger: logging.Logger, heartbeat_s: float = 20.0) -> None:
        self.log = logger
        self.state = ProgressState()
        self.heartbeat_s = heartbeat_s
        self._last = time.time()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def __call__(self, e: RunEvent) -> None:
        self.state.apply(e)
        d = e.data
        line = None
        if e.kind == "run_started":
            line = header_line(self.state.header, e.run_id)
            if d.get("isolation_note"):
                line += f" · note: {d['isolation_note']}"
        elif e.kind == "phase" and d.get("phase"):
            line = f"{slot_name(d.get('slot'))}: {d['phase']}"
        elif e.kind == "llm_retry":
            line = retry_line(d.get("slot"), d)
        elif e.kind == "candidate":
            line = candidate_line(d) + " · " + budget_line(self.state, e.ts)
        elif e.kind == "test_scoring":
            line = f"scoring on test: {d.get('done')}/{d.get('total')}" + (f" ({d['candidate']})" if d.get("candidate") else "")
        elif e.kind == "run_finished":
            line = finished_line(d) + " · " + budget_line(self.state, e.ts)
        if line is not None:
            self._emit(line, logging.WARNING if e.kind == "llm_retry" else logging.INFO)

    def _emit(self, line: str, level: int = logging.INFO) -> None:
        self._last = time.time()
        self.log.log(level, line)

    def _beat(self) -> None:
        while not self._stop.wait(min(1.0, self.heartbeat_s)):
            now = time.time()
            if now - self._last < self.heartbeat_s or self.state.finished is not None or not self.state.run_id:
                continue
            with self.state.lock:
                doing = "; ".join(slot_lines(self.state, now)) or "waiting"
                line = f"still running: {doing} · {budget_line(self.state, now)}"
            self._emit(line)

    def start(self) -> None:
        self._thread = threading.Thread(target=self._beat, name="discover-progress-heartbeat", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=2)


class JsonProgress:
    """One JSON object per event and line, flushed (for machines)."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self.lock = threading.Lock()

    def __call__(self, e: RunEvent) -> None:
        line = json.dumps(e.to_json(), default=str)
        with self.lock:
            self.stream.write(line + "\n")
            self.stream.flush()

    def start(self) -> None:
        pass

    def stop(self) -> None:
        pass


def _quiet(e: RunEvent) -> None:
    pass


def mode_from_flags(progress: str = "auto", *, quiet: bool = False, log_json: bool = False) -> str:
    """The mode for a command's flags: `--quiet` and `--log-json` are shorthands for `--progress quiet|json`."""
    if quiet and log_json:
        raise ValueError("--quiet and --log-json contradict each other: pick one")
    return "quiet" if quiet else "json" if log_json else progress


def resolve_mode(mode: str, console: Console) -> str:
    if mode not in MODES:
        raise ValueError(f"progress mode {mode!r}: one of {', '.join(MODES)}")
    if mode == "auto":
        return "terminal" if console.is_terminal else "plain"
    return mode


def _log_handler(stream: TextIO) -> logging.Handler:
    handler = logging.StreamHandler(stream)  # flushes after every record
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s", "%Y-%m-%d %H:%M:%S"))
    return handler


@contextmanager
def watch(console: Console | None = None, mode: str = "auto", *, stream: TextIO | None = None,
          heartbeat_s: float = 20.0) -> Iterator[Callable[[RunEvent], None]]:
    """A subscriber for the run's EventBus, live for the `with` block. `stream` (plain/json) defaults to the
    console's file, so the lines go where the command's output goes (a redirected stdout, nohup.out, a SLURM log)."""
    from discover.console import console as default_console

    console = console or default_console
    chosen = resolve_mode(mode, console)
    out = stream or console.file or sys.stdout
    if chosen == "quiet":
        yield _quiet
        return
    handler = None
    if chosen == "terminal":
        sub: TerminalProgress | PlainProgress | JsonProgress = TerminalProgress(console)
    elif chosen == "json":
        sub = JsonProgress(out)
    else:
        logger = logging.getLogger(LOGGER)
        logger.setLevel(logging.INFO)
        logger.propagate = False  # one line per event, not again through the root logger
        handler = _log_handler(out)
        logger.addHandler(handler)
        sub = PlainProgress(logger, heartbeat_s=heartbeat_s)
    sub.start()
    try:
        yield sub
    finally:
        sub.stop()
        if handler is not None:
            logging.getLogger(LOGGER).removeHandler(handler)
