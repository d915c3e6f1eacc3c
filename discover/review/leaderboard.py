"""Leaderboards: the best candidates of one problem across runs, ranked on held-out scores, with the seed, the
problem's baselines and a known optimum as rows of the same table. Pure data (pydantic rows) for the CLI and the
HTML report alike.

Ranking (direction from the problem spec):
1. rows with a score on every instance set of the split, by the mean over those sets;
2. then rows without one (e.g. candidates never re-scored on test), by train score;
3. then rows with neither.
Ties: by train score, then the earlier-found candidate (created_at), then id/name, so the order is deterministic.
Code found more than once (identical across runs) is listed once, at its best place. Only candidates that were
evaluated valid are listed; baselines and the seed have no rank number."""

from __future__ import annotations

from typing import Iterable, Literal

from pydantic import BaseModel

from discover.errors import StoreError
from discover.review.best import rankable
from discover.review.problem_info import ProblemInfo, problem_info
from discover.review.scores import SetScores, from_baseline, from_evaluations, split_sets
from discover.store import CandidateRow, EvaluationRow, RunRow, Store

SCHEMA = "discover.leaderboard/1"
SEED_OPERATORS = ("seed", "start")  # evolve's seed heuristic; a prompt run's starting instruction


class LeaderboardRow(BaseModel):
    rank: int | None                       # 1.. for candidates; None for seed/baseline/reference rows
    kind: Literal["candidate", "seed", "baseline", "reference"]
    name: str                              # candidate id, or the baseline's name
    candidate_id: str | None = None
    run_id: str | None = None
    model: str | None = None
    strategy: str | None = None
    operator: str | None = None
    generation: int | None = None
    score: float | None                    # ranked on: mean over the split's sets, when all have a score
    scores: dict[str, float | None]        # instance set -> score
    statuses: dict[str, str]               # instance set -> ok | timeout | error | ... | missing
    train_score: float | None
    llm_cost_usd: float | None = None      # the LLM call that produced it (0 when answered from the cache)
    code_lines: int | None = None
    code_chars: int | None = None
    code_hash: str | None = None
    created_at: float | None = None


class Leaderboard(BaseModel):
    problem: str
    kind: str
    direction: str
    unit: str
    split: str
    instance_sets: list[str]
    note: str | None
    runs: list[str]
    rows: list[LeaderboardRow]

    @property
    def candidates(self) -> list[LeaderboardRow]:
        return [r for r in self.rows if r.kind == "candidate"]


def llm_costs(store: Store, run_id: str) -> dict[str, float]:
    """LLM call key -> what this run paid for it (cached and failed calls cost nothing)."""
    out: dict[str, float] = {}
    for r in store.llm_calls(run_id):
        if not r["cached"] and r["error"] is None:
            out[r["key"]] = out.get(r["key"], 0.0) + float(r["cost_usd"])
    return out


def group_runs(store: Store, problem: str | None = None, run_ids: Iterable[str] | None = None) -> dict[str, list[RunRow]]:
    """Runs per problem name, in creation order; `problem` keeps one (StoreError naming the others if it has no runs)."""
    runs = store.list_runs()
    if run_ids is not None:
        wanted = set(run_ids)
        runs = [r for r in runs if r.id in wanted]
    groups: dict[str, list[RunRow]] = {}
    for r in runs:
        groups.setdefault(r.problem, []).append(r)
    if problem is None:
        return groups
    if problem in groups:
        return {problem: groups[problem]}
    by_dir = {name: rs for name, rs in groups.items() if any(r.problem_dir.rstrip("/") == problem.rstrip("/") for r in rs)}
    if by_dir:
        return by_dir
    raise StoreError(f"no runs of problem {problem!r} in {store.runs_dir} (problems with runs: {', '.join(groups) or 'none'})",
                     problem=problem)


def _candidate_row(c: CandidateRow, run: RunRow, scores: SetScores, costs: dict[str, float]) -> LeaderboardRow:
    seed = c.operator in SEED_OPERATORS
    return LeaderboardRow(
        rank=None, kind="seed" if seed else "candidate", name=c.id, candidate_id=c.id, run_id=run.id,
        model=None if seed else run.model, strategy=run.strategy, operator=c.operator, generation=c.generation,
        score=scores.mean, scores=scores.scores, statuses=scores.statuses, train_score=c.train_score,
        llm_cost_usd=costs.get(c.llm_call_key, 0.0) if c.llm_call_key else None,
        code_lines=len(c.code.splitlines()), code_chars=len(c.code), code_hash=c.code_hash, created_at=c.created_at,
    )


def _fixed_rows(info: ProblemInfo, sets: list[str]) -> list[LeaderboardRow]:
    rows = []
    for kind, table in (("reference", info.references()), ("baseline", info.baselines)):
        for name, values in table.items():
            scores = from_baseline(values, sets)
            train = from_baseline(values, info.train_sets).mean
            rows.append(LeaderboardRow(rank=None, kind=kind, name=name, score=scores.mean, scores=scores.scores,
                                       statuses=scores.statuses, train_score=train))
    return rows


def _group_info(store: Store, runs: list[RunRow]) -> ProblemInfo:
    """The newest run whose problem folder still loads speaks for the problem; else the newest run's guess."""
    for run in reversed(runs):
        info = problem_info(store, run)
        if info.note is None:
            return info
    return problem_info(store, runs[-1])


def sort_key(info: ProblemInfo):
    def key(r: LeaderboardRow) -> tuple:
        if r.score is not None:
            tier, primary = 0, info.key(r.score)
        elif r.train_score is not None:
            tier, primary = 1, info.key(r.train_score)
        else:
            tier, primary = 2, 0.0
        created = r.created_at if r.created_at is not None else float("-inf")  # fixed rows first among equals
        return (tier, primary, info.key(r.train_score), created, r.name)

    return key


def build_leaderboard(store: Store, name: str, runs: list[RunRow], *, split: str = "test",
                      limit: int | None = None, evaluations: dict[str, list[EvaluationRow]] | None = None) -> Leaderboard:
    """`evaluations` (candidate id -> its rows), when the caller has loaded them already."""
    info = _group_info(store, runs)
    sets = split_sets(info, split)
    rows = _fixed_rows(info, sets)
    for run in runs:
        costs = llm_costs(store, run.id)
        for c in store.candidates(run.id):
            if rankable(c):  # evaluated, valid, not suspicious (discover.review.best)
                evals = evaluations[c.id] if evaluations is not None and c.id in evaluations else store.evaluations(c.id)
                rows.append(_candidate_row(c, run, from_evaluations(evals, split, sets), costs))
    rows.sort(key=sort_key(info))
    kept: list[LeaderboardRow] = []
    seen: set[tuple[str, str]] = set()
    rank = 0
    for r in rows:
        if r.code_hash is not None:
            if (r.kind, r.code_hash) in seen:
                continue
            seen.add((r.kind, r.code_hash))
        if r.kind == "candidate":
            if limit is not None and rank >= limit:
                continue
            rank += 1
            r.rank = rank
        kept.append(r)
    return Leaderboard(problem=name, kind=info.kind, direction=info.direction, unit=info.unit, split=split,
                       instance_sets=sets, note=info.note, runs=[r.id for r in runs], rows=kept)


def build_leaderboards(store: Store, *, problem: str | None = None, split: str = "test", limit: int | None = None,
                       run_ids: Iterable[str] | None = None) -> list[Leaderboard]:
    return [build_leaderboard(store, name, runs, split=split, limit=limit)
            for name, runs in group_runs(store, problem, run_ids).items()]


def leaderboards_json(boards: list[Leaderboard], runs_dir: str) -> dict:
    return {"schema": SCHEMA, "runs_dir": runs_dir, "leaderboards": [b.model_dump() for b in boards]}
