"""The one definition of a run's "best" candidate, used by the summary, `runs`, `export --best`, the report and the
web view: the best train score among candidates that were evaluated valid and not flagged suspicious (a score
better than the problem's optimum or bound is never ranked); ties go to the earlier one (created_at, then id).
The seed counts like any other candidate: a run whose LLM candidates are all worse than its seed has the seed as
its best. Held-out (test) scores rank candidates on the leaderboard; they never pick "the best"."""

from __future__ import annotations

from typing import Iterable, Protocol, TypeVar


class _Candidate(Protocol):
    id: str
    status: str
    valid: bool
    train_score: float | None
    created_at: float


C = TypeVar("C", bound=_Candidate)


def rankable(c: _Candidate) -> bool:
    """Evaluated, valid, with a train score, and not suspicious."""
    return c.status == "evaluated" and bool(c.valid) and c.train_score is not None


def best_candidate(candidates: Iterable[C], *, minimize: bool) -> C | None:
    ranked = [c for c in candidates if rankable(c)]
    if not ranked:
        return None
    sign = 1.0 if minimize else -1.0
    return min(ranked, key=lambda c: (sign * float(c.train_score), c.created_at, c.id))  # type: ignore[arg-type]
