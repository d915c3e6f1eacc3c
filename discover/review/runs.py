"""`discover runs`: one overview row per run (status, budget used, best scores)."""

from __future__ import annotations

from pydantic import BaseModel

from discover.review.best import best_candidate, rankable
from discover.review.problem_info import problem_info
from discover.review.scores import from_evaluations
from discover.store import CandidateRow, EvaluationRow, RunRow, Store

SCHEMA = "discover.runs/1"


class RunOverview(BaseModel):
    id: str
    status: str                     # running | finished | stopped | crashed (running with a dead pid)
    stop_reason: str | None
    problem: str
    kind: str
    model: str
    strategy: str
    sandbox: str | None
    created_at: float
    updated_at: float
    direction: str
    generations_done: int | None    # highest generation (prompt runs: step) index with a candidate (0-based)
    generations: int                # how many generations (steps) have a candidate: generation 0 counts
    candidates: int
    valid: int
    llm_calls: int                  # paid calls (cache hits and failures excluded)
    prompt_tokens: int
    completion_tokens: int
    cost_usd: float
    best_train: float | None
    best_train_id: str | None       # the run's best (discover.review.best)
    best_test: float | None         # mean over the problem's test sets, among candidates scored on all of them
    best_test_id: str | None


def overview(store: Store, run: RunRow, *, candidates: list[CandidateRow] | None = None,
             evaluations: dict[str, list[EvaluationRow]] | None = None) -> RunOverview:
    """`candidates` and `evaluations` (candidate id -> its rows), when the caller has loaded them already."""
    info = problem_info(store, run)
    cands = candidates if candidates is not None else store.candidates(run.id)
    valid = [c for c in cands if rankable(c)]
    best_train = best_candidate(valid, minimize=info.minimize)
    best_test, best_test_id = None, None
    for c in sorted(valid, key=lambda c: c.created_at):
        rows = evaluations[c.id] if evaluations is not None else store.evaluations(c.id, "test")
        mean = from_evaluations(rows, "test", info.test_sets).mean if info.test_sets else None
        if info.better(mean, best_test):
            best_test, best_test_id = mean, c.id
    totals = store.run_llm_totals(run.id)
    return RunOverview(
        id=run.id, status=run.status, stop_reason=run.stop_reason, problem=run.problem, kind=run.kind, model=run.model,
        strategy=run.strategy, sandbox=run.sandbox, created_at=run.created_at, updated_at=run.updated_at,
        direction=info.direction, generations_done=max((c.generation for c in cands), default=None),
        generations=len({c.generation for c in cands}),
        candidates=len(cands), valid=len(valid), llm_calls=int(totals["calls"]),
        prompt_tokens=int(totals["prompt_tokens"]), completion_tokens=int(totals["completion_tokens"]),
        cost_usd=float(totals["cost_usd"]), best_train=best_train.train_score if best_train else None,
        best_train_id=best_train.id if best_train else None, best_test=best_test, best_test_id=best_test_id,
    )


def overviews(store: Store) -> list[RunOverview]:
    """Oldest first, like the store keeps them."""
    return [overview(store, r) for r in store.list_runs()]


def runs_json(rows: list[RunOverview], runs_dir: str) -> dict:
    return {"schema": SCHEMA, "runs_dir": runs_dir, "runs": [r.model_dump() for r in rows]}
