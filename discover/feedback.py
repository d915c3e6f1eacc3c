"""Directional feedback: not just a score, but which instances got better or worse against the parent and
the best so far, and why a candidate failed. Synthesised into short "do more of / stop doing" lines.

Ideas from Trace/OptoPrime (Cheng et al. 2024: the optimizer sees the execution trace and feedback) and
"The Importance of Directional Feedback for LLM-based Optimizers" (Nie et al. 2024)."""

from __future__ import annotations

from dataclasses import dataclass, field

from discover.problem import Problem

EPS = 1e-9


@dataclass
class Outcome:
    """A candidate's evaluation on the train split, flattened over instance sets."""

    status: str  # ok | invalid | error | timeout | memory | crash | forbidden | rejected | duplicate
    score: float | None = None
    instances: dict[str, float] = field(default_factory=dict)
    error: str | None = None
    traceback: str | None = None
    stderr_tail: str | None = None
    duration_s: float = 0.0
    details: dict[str, dict] = field(default_factory=dict)  # per-instance metrics as stored (a prompt's outputs)

    @property
    def valid(self) -> bool:
        return self.status == "ok" and self.score is not None


@dataclass
class Reference:
    """A candidate to compare against (the parent, or the best so far)."""

    id: str
    thought: str
    outcome: Outcome


def _fmt(x: float) -> str:
    return f"{x:.4g}"


def _compare(problem: Problem, mine: Outcome, ref: Outcome, label: str) -> str | None:
    if not ref.valid:
        return None
    common = [k for k in mine.instances if k in ref.instances]
    if not common:
        return None
    sign = 1.0 if problem.minimize else -1.0  # positive delta = worse
    deltas = {k: sign * (mine.instances[k] - ref.instances[k]) for k in common}
    better = {k: d for k, d in deltas.items() if d < -EPS}
    worse = {k: d for k, d in deltas.items() if d > EPS}
    diff = mine.score - ref.score  # type: ignore[operator]
    verdict = "better" if problem.better(mine.score, ref.score) else ("equal" if abs(diff) <= EPS else "worse")
    line = f"vs {label} ({_fmt(ref.score)}): {verdict} by {_fmt(abs(diff))}; improved on {len(better)}/{len(common)} instances"
    if better:
        k = min(better, key=better.get)
        line += f" (most: {k} {float(mine.instances[k] - ref.instances[k]):+.4g})"
    line += f", regressed on {len(worse)}/{len(common)}"
    if worse:
        k = max(worse, key=worse.get)
        line += f" (most: {k} {float(mine.instances[k] - ref.instances[k]):+.4g})"
    return line + "."


def _trim(text: str | None, lines: int) -> str:
    if not text:
        return ""
    kept = text.strip().splitlines()[-lines:]
    return "\n".join(kept)


def _one_line(text: str, limit: int = 200) -> str:
    line = " ".join(text.split())
    return line if len(line) <= limit else line[: limit - 3] + "..."


FAILURE_ADVICE = {
    "invalid": "its output broke the problem's rules",
    "error": "it raised an exception",
    "timeout": "it ran past the time limit; keep each call cheap (avoid nested loops over all nodes)",
    "memory": "it exceeded the memory limit; avoid large allocations",
    "crash": "the process died; never call exit() or os._exit() and avoid native crashes",
    "forbidden": "it tried something the sandbox forbids (network, files outside its scratch dir, subprocesses)",
    "rejected": "the response could not be used as code",
    "duplicate": "it was identical to an earlier candidate",
}


def candidate_feedback(problem: Problem, thought: str, outcome: Outcome,
                       parent: Reference | None, best: Reference | None) -> str:
    unit = f" {problem.spec.score.unit}" if problem.spec.score.unit else ""
    lines: list[str] = []
    if outcome.valid:
        # No ids or timings in the text: it goes into prompts, which must be reproducible for the cache.
        slow = ""
        limit = problem.spec.limits.timeout_s * len(problem.spec.splits.train)
        if outcome.duration_s > 0.5 * limit:
            slow = f" Slow: it used {outcome.duration_s / limit:.0%} of the time limit."
        lines.append(f"Result: valid, train score {_fmt(outcome.score)}{unit}"  # type: ignore[arg-type]
                     f" ({problem.spec.score.direction}).{slow}")
        for ref, label in ((parent, "parent"), (best, "best so far")):
            if ref is not None and not (label == "best so far" and parent is not None and ref.id == parent.id):
                cmp = _compare(problem, outcome, ref.outcome, label)
                if cmp:
                    lines.append(cmp)
        if parent is not None and parent.outcome.valid:
            if problem.better(outcome.score, parent.outcome.score):
                lines.append(f"Do more of: {thought or 'this change'} (it beat its parent).")
            elif problem.better(parent.outcome.score, outcome.score):
                lines.append(f"Stop doing: {thought or 'this change'} (it made the parent worse).")
        if best is not None and best.outcome.valid and problem.better(outcome.score, best.outcome.score):
            lines.append("This is the new best so far.")
    else:
        reason = outcome.error or outcome.status
        lines.append(f"Result: {outcome.status.upper()}: {reason}")
        tb = _trim(outcome.traceback, 6)
        if tb:
            lines.append("Traceback (last lines):\n" + tb)
        err = _trim(outcome.stderr_tail, 3)
        if err and err not in tb:
            lines.append("stderr (tail):\n" + err)
        advice = FAILURE_ADVICE.get(outcome.status, "it failed")
        # The error itself goes into the lesson (the only part of a failure later prompts see), but not for
        # duplicates, whose message names a candidate id and would make prompts differ run to run.
        if outcome.error and outcome.status != "duplicate":
            advice += f" ({_one_line(outcome.error)})"
        lines.append(f"Stop doing: {advice}.")
    return "\n".join(lines)


def lessons(feedback_texts: list[str], limit: int = 6) -> list[str]:
    """The newest distinct do/stop lines across a run, newest first: a compact memory for the next prompt."""
    seen: set[str] = set()
    out: list[str] = []
    for text in reversed(feedback_texts):
        for line in text.splitlines():
            if line.startswith(("Do more of:", "Stop doing:")) and line not in seen:
                seen.add(line)
                out.append(line)
                if len(out) >= limit:
                    return out
    return out
