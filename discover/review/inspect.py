"""One candidate up close: its record, scores per split and instance set, feedback, diff against its first parent,
and its ancestry (0..2 parents per candidate; crossover operators have two)."""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field

from discover.errors import StoreError
from discover.review.problem_info import ProblemInfo, problem_info
from discover.review.scores import from_evaluations
from discover.store import CandidateRow, EvaluationRow, RunRow, Store


@dataclass
class CandidateDetail:
    candidate: CandidateRow
    run: RunRow
    info: ProblemInfo
    evaluations: list[EvaluationRow]   # newest per (split, instance set), train first
    feedback: str | None
    train_mean: float | None
    test_mean: float | None


def _newest(rows: list[EvaluationRow]) -> list[EvaluationRow]:
    newest: dict[tuple[str, str], EvaluationRow] = {}
    for r in rows:
        newest[(r.split, r.instance_set)] = r
    return sorted(newest.values(), key=lambda r: (r.split != "train", r.id))


def detail(store: Store, cid: str) -> CandidateDetail:
    c = store.get_candidate(cid)
    run = store.get_run(c.run_id)
    info = problem_info(store, run)
    evals = store.evaluations(c.id)
    test = from_evaluations(evals, "test", info.test_sets).mean if info.test_sets else None
    return CandidateDetail(candidate=c, run=run, info=info, evaluations=_newest(evals), feedback=store.feedback_for(c.id),
                           train_mean=c.train_score, test_mean=test)


def diff_to_parent(store: Store, c: CandidateRow) -> str | None:
    """Unified diff from the first parent's code to this one's; None for a candidate without parents."""
    if not c.parent_ids:
        return None
    parent = store.get_candidate(c.parent_ids[0])
    lines = difflib.unified_diff(parent.code.splitlines(keepends=True), c.code.splitlines(keepends=True),
                                 fromfile=f"{parent.id} (parent, {parent.operator})", tofile=f"{c.id} ({c.operator})")
    return "".join(line if line.endswith("\n") else line + "\n" for line in lines)


@dataclass
class LineageNode:
    id: str
    candidate: CandidateRow | None          # None: the parent id is not in the store
    test_mean: float | None = None
    repeated: bool = False                  # already shown elsewhere in this tree (shared ancestor)
    parents: list["LineageNode"] = field(default_factory=list)


def lineage(store: Store, cid: str) -> LineageNode:
    """Ancestry tree rooted at the candidate. A shared ancestor is expanded once; later mentions are `repeated`."""
    root = store.get_candidate(cid)
    info = problem_info(store, store.get_run(root.run_id))
    expanded: set[str] = set()

    def node(c_id: str, row: CandidateRow | None = None) -> LineageNode:
        if row is None:
            try:
                row = store.get_candidate(c_id)
            except StoreError:
                return LineageNode(id=c_id, candidate=None)
        test = from_evaluations(store.evaluations(row.id, "test"), "test", info.test_sets).mean if info.test_sets else None
        n = LineageNode(id=row.id, candidate=row, test_mean=test, repeated=row.id in expanded)
        if not n.repeated:
            expanded.add(row.id)
            n.parents = [node(p) for p in row.parent_ids]
        return n

    return node(root.id, root)


def lineage_depth(n: LineageNode) -> int:
    return 1 + max((lineage_depth(p) for p in n.parents), default=0)
