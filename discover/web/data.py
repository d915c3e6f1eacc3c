"""The JSON behind the web view and the static report: the runs, one run (every candidate, light), one candidate
(everything: code, diffs to each parent, thought, feedback, prompt and raw response, per-instance scores, cost).
Plain dicts with a `schema` field; all text is data (the page inserts it with textContent, never as HTML)."""

from __future__ import annotations

import bisect
import difflib
import hashlib
import json
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

from discover.errors import StoreError
from discover.review.best import best_candidate, rankable
from discover.review.leaderboard import build_leaderboard, group_runs
from discover.review.problem_info import ProblemInfo, problem_info
from discover.review.runs import overview, overviews
from discover.review.scores import from_evaluations
from discover.store import CandidateRow, EvaluationRow, RunRow, Store

RUNS_SCHEMA = "discover.web.runs/1"
RUN_SCHEMA = "discover.web.run/1"
CANDIDATE_SCHEMA = "discover.web.candidate/1"
FAILURE_CATEGORY = {"invalid": "invalid", "timeout": "timeout", "suspicious": "suspicious", "cancelled": "cancelled"}
SHORT_ERROR = 120


def open_store(runs_dir: Path | str) -> Store:
    """The store, read-only where the store supports it; never created."""
    return Store(runs_dir, create=False, readonly=True)


def outcome(c: CandidateRow, evaluations: list[EvaluationRow]) -> str:
    """One word for the colour of a candidate: valid, screened out, invalid, timeout, error, suspicious, cancelled,
    rejected, duplicate, pending."""
    if c.status in ("rejected", "duplicate", "pending", "suspicious", "cancelled"):
        return c.status
    if c.valid:
        return "valid"
    failed = [e for e in evaluations if e.split == "train" and e.status != "ok"]
    if not failed:
        return "screened out"  # scored fine on a screen, not good enough for the full train split
    return FAILURE_CATEGORY.get(failed[0].status, "error")


def _clip(text: str | None, n: int = SHORT_ERROR) -> str | None:
    if not text:
        return None
    words = " ".join(text.split())
    return words if len(words) <= n else words[: n - 1] + "…"


def _meta(c: CandidateRow) -> dict[str, Any]:
    meta = getattr(c, "meta", None)  # candidates.meta (JSON), where the store has it
    if isinstance(meta, str):
        try:
            meta = json.loads(meta)
        except ValueError:
            meta = {"raw": meta}
    return meta if isinstance(meta, dict) else {}


def _target(info: ProblemInfo) -> dict[str, Any]:
    t = info.target
    return {"kind": t.kind, "language": t.language, "step_word": t.step_word, "text_label": t.text_label,
            "unit": info.unit, "direction": info.direction}


def _baselines(info: ProblemInfo) -> list[dict[str, Any]]:
    """Train-split means of the references and baselines: the horizontal lines on the scatter."""
    out = []
    for kind, table in (("reference", info.references()), ("baseline", info.baselines)):
        for name, values in table.items():
            vals = [values[s] for s in info.train_sets if s in values]
            if vals and len(vals) == len(info.train_sets):
                out.append({"name": name, "kind": kind, "train": sum(vals) / len(vals)})
    return out


def runs_view(store: Store) -> dict[str, Any]:
    return {"schema": RUNS_SCHEMA, "runs": [o.model_dump() for o in overviews(store)]}


@dataclass
class RunIndex:
    """One run read once: what run_view needs, and what the report's many candidate views share (each would
    otherwise scan the run's candidates and LLM calls again)."""

    run: RunRow
    info: ProblemInfo
    candidates: list[CandidateRow]                  # in the order found
    evaluations: dict[str, list[EvaluationRow]]     # candidate id -> its rows, oldest first
    calls: list[Any]                                # llm_calls rows
    proposals: list[Any]                            # ProposalRow: every LLM proposal, written before its call

    @cached_property
    def by_id(self) -> dict[str, CandidateRow]:
        return {c.id: c for c in self.candidates}

    @cached_property
    def children(self) -> dict[str, list[str]]:
        out: dict[str, list[str]] = {}
        for c in self.candidates:
            for p in c.parent_ids:
                out.setdefault(p, []).append(c.id)
        return out

    @cached_property
    def calls_by_key(self) -> dict[str, list[Any]]:
        out: dict[str, list[Any]] = {}
        for r in self.calls:
            out.setdefault(r["key"], []).append(r)
        return out


def run_index(store: Store, run_id: str, candidates: list[CandidateRow] | None = None) -> RunIndex:
    run = store.get_run(run_id)
    cands = sorted(candidates if candidates is not None else store.candidates(run.id), key=lambda c: (c.created_at, c.id))
    return RunIndex(run=run, info=problem_info(store, run), candidates=cands,
                    evaluations={c.id: store.evaluations(c.id) for c in cands}, calls=list(store.llm_calls(run.id)),
                    proposals=store.proposals(run.id))


def run_view(store: Store, run_id: str, idx: RunIndex | None = None) -> dict[str, Any]:
    idx = idx or run_index(store, run_id)
    run, info, cands = idx.run, idx.info, idx.candidates
    paid_at = sorted(r["created_at"] for r in idx.calls if not r["cached"] and r["error"] is None)
    best = best_candidate(cands, minimize=info.minimize)
    rows = []
    for i, c in enumerate(cands):
        evals = idx.evaluations[c.id]
        test = from_evaluations(evals, "test", info.test_sets).mean if info.test_sets else None
        failed = next((e for e in evals if e.status != "ok"), None)
        rows.append({
            "id": c.id, "index": i, "operator": c.operator, "generation": c.generation, "slot": c.slot,
            "parent_ids": c.parent_ids, "status": c.status, "outcome": outcome(c, evals), "valid": bool(c.valid),
            "rankable": rankable(c), "train_score": c.train_score, "test_score": test,
            "calls_before": bisect.bisect_right(paid_at, c.created_at), "created_at": c.created_at,
            "error": _clip(c.reject_reason or (failed.error if failed else None)),
            "thought": _clip(c.thought, 90),
        })
    ov = overview(store, run, candidates=cands, evaluations=idx.evaluations)
    board = build_leaderboard(store, run.problem, group_runs(store, run_ids=[run.id])[run.problem], limit=15,
                              evaluations=idx.evaluations)
    return {
        "schema": RUN_SCHEMA,
        "run": {**ov.model_dump(), "config": run.config, "problem_dir_name": Path(run.problem_dir).name},
        "target": _target(info), "note": info.note, "train_sets": info.train_sets, "test_sets": info.test_sets,
        "baselines": _baselines(info), "best_id": best.id if best else None, "candidates": rows,
        "cached_calls": sum(1 for r in idx.calls if r["cached"]), "failed_calls": sum(1 for r in idx.calls if r["error"]),
        "leaderboard": board.model_dump(),
        "in_flight": in_flight(idx.proposals),
        # changes whenever something the page shows changes: the page re-renders only then
        "version": hashlib.sha1(json.dumps([rows, ov.status, ov.llm_calls, len(idx.calls), in_flight(idx.proposals)], default=str).encode()).hexdigest()[:16],
    }


def _llm_call(rows: list[Any]) -> dict[str, Any] | None:
    """The LLM call that produced the candidate (the paid answer, else the cached one, else the failed attempt)."""
    if not rows:
        return None
    row = next((r for r in rows if r["error"] is None and not r["cached"]), None) or \
        next((r for r in rows if r["error"] is None), rows[0])
    try:
        messages = json.loads(row["messages"])
    except ValueError:
        messages = [{"role": "?", "content": row["messages"]}]
    return {"model": row["model"], "role": row["role"], "messages": messages, "response": row["response"],
            "prompt_tokens": row["prompt_tokens"], "completion_tokens": row["completion_tokens"],
            "cost_usd": row["cost_usd"], "latency_s": row["latency_s"], "cached": bool(row["cached"]),
            "error": row["error"], "attempts": len(rows)}


def _diff(parent: CandidateRow, c: CandidateRow) -> list[str]:
    lines = difflib.unified_diff(parent.code.splitlines(), c.code.splitlines(), fromfile=f"{parent.id} ({parent.operator})",
                                 tofile=f"{c.id} ({c.operator})", lineterm="")
    return list(lines)


def code_tokens(code: str, language: str) -> list[list[str]]:
    """[css class, text] runs for the page to build spans from (pygments' short class names); plain text is one
    run without a class."""
    if language != "python":
        return [["", code]]
    from pygments import lex
    from pygments.lexers import PythonLexer
    from pygments.token import STANDARD_TYPES

    out: list[list[str]] = []
    for ttype, value in lex(code, PythonLexer()):
        while ttype not in STANDARD_TYPES:
            ttype = ttype.parent
        cls = STANDARD_TYPES[ttype]
        if out and out[-1][0] == cls:
            out[-1][1] += value
        else:
            out.append([cls, value])
    return out


def in_flight(proposals: list[Any]) -> list[dict[str, Any]]:
    """Proposals asked for and not yet a finished candidate (what the slots are doing, from the store)."""
    return [{"idx": p.idx, "operator": p.operator, "parent_ids": p.parent_ids, "status": p.status, "model": p.model,
             "created_at": p.created_at, "updated_at": p.updated_at}
            for p in proposals if p.status in ("pending", "answered")]


def fingerprint(store: Store, run: RunRow, candidates: list[CandidateRow]) -> str:
    """Cheap to compute, and changes when the run view would: a new or finished candidate, a paid call, the run's
    status. (Test scores arrive while the run finishes: its status changes after them.)"""
    calls = store.run_llm_totals(run.id)["calls"]
    pending = [(p.idx, p.status) for p in store.proposals(run.id) if p.status in ("pending", "answered")]
    parts = [run.status, run.updated_at, calls, pending, [(c.id, c.status, c.train_score, c.valid) for c in candidates]]
    return hashlib.sha1(json.dumps(parts, default=str).encode()).hexdigest()


def candidate_view(store: Store, cid: str, idx: RunIndex | None = None) -> dict[str, Any]:
    """One candidate; `idx` (the report) shares one read of the run across all its candidates."""
    c = idx.by_id[cid] if idx is not None and cid in idx.by_id else store.get_candidate(cid)
    run = idx.run if idx is not None else store.get_run(c.run_id)
    info = idx.info if idx is not None else problem_info(store, run)
    language = info.target.language
    parents = []
    for pid in c.parent_ids:
        p = idx.by_id.get(pid) if idx is not None else None
        if p is None:
            try:
                p = store.get_candidate(pid)
            except StoreError:  # a parent from a deleted run: say so, do not fail the page
                parents.append({"id": pid, "missing": True})
                continue
        parents.append({"id": p.id, "operator": p.operator, "train_score": p.train_score, "diff": _diff(p, c)})
    rows = idx.evaluations[c.id] if idx is not None else store.evaluations(c.id)
    evals = [{"split": e.split, "instance_set": e.instance_set, "status": e.status, "score": e.score, "error": e.error,
              "traceback": e.traceback, "stderr_tail": e.stderr_tail, "duration_s": e.duration_s,
              "instances": e.instances} for e in rows]
    if idx is not None:
        children = idx.children.get(c.id, [])
        calls = idx.calls_by_key.get(c.llm_call_key or "", [])
    else:
        children = [x.id for x in store.candidates(run.id) if c.id in x.parent_ids]
        calls = [r for r in store.llm_calls(run.id) if r["key"] == c.llm_call_key] if c.llm_call_key else []
    test = from_evaluations(rows, "test", info.test_sets).mean if info.test_sets else None
    llm = _llm_call(calls)
    if llm is None and c.llm_call_key:  # no call recorded (it failed, or an older store): the proposal's prompt
        props = idx.proposals if idx is not None else store.proposals(run.id)
        p = next((p for p in props if p.candidate_id == c.id), None)
        if p is not None:
            llm = {"model": p.model, "role": "propose", "messages": p.messages, "response": None, "prompt_tokens": 0,
                   "completion_tokens": 0, "cost_usd": 0.0, "latency_s": 0.0, "cached": False, "error": None,
                   "attempts": 0, "from_proposal": True}
    return {
        "schema": CANDIDATE_SCHEMA, "id": c.id, "run_id": run.id, "operator": c.operator, "generation": c.generation,
        "slot": c.slot, "status": c.status, "outcome": outcome(c, rows), "valid": bool(c.valid),
        "reject_reason": c.reject_reason, "train_score": c.train_score, "test_score": test, "thought": c.thought,
        "language": language, "text_label": info.target.text_label, "code": c.code,
        "code_tokens": code_tokens(c.code, language), "parents": parents, "children": children,
        "feedback": store.feedback_for(c.id), "evaluations": evals, "llm": llm,
        "meta": _meta(c), "created_at": c.created_at,
    }
