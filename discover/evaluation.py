"""Score a candidate's code on a problem's instance sets through the sandbox, and turn the results into the
flat Outcome that feedback and selection use."""

from __future__ import annotations

import asyncio
from typing import Any, Iterable

from discover.feedback import Outcome
from discover.problem import Problem


class Evaluator:
    """The trusted side of evaluation for one problem: candidate side on an executor, scoring by the judge.

    (Transitional shim: the trust-split implementation replaces the body, the interface stays.)
        async evaluate(code, instance_sets, *, split, deadline=None) -> list[EvalResult]   (one per set)
    """

    def __init__(self, problem: Problem, sandbox: Any) -> None:
        self.problem = problem
        self.sandbox = sandbox
        self.capacity = max(1, getattr(sandbox, "workers", 1))
        self._slots = asyncio.Semaphore(self.capacity)

    @property
    def backend(self) -> str:
        return getattr(self.sandbox, "backend", "?")

    async def evaluate(self, code: str, instance_sets: list[str], *, split: str = "train",
                       deadline: float | None = None) -> list[Any]:
        return await evaluate_sets(self.sandbox, self.problem, code, instance_sets, self._slots)

    def close(self) -> None:
        self.sandbox.close()


def requests_for(problem: Problem, code: str, instance_sets: Iterable[str]) -> list[Any]:
    from discover.sandbox import EvalRequest

    return [
        EvalRequest(code=code, problem_dir=problem.root, instance_set=s, timeout_s=problem.spec.limits.timeout_s,
                    memory_mb=problem.spec.limits.memory_mb)
        for s in instance_sets
    ]


async def evaluate_sets(sandbox: Any, problem: Problem, code: str, instance_sets: list[str],
                        slots: asyncio.Semaphore) -> list[Any]:
    """One sandbox evaluation per instance set, run in a thread so the event loop keeps serving LLM calls."""
    async with slots:
        return await asyncio.to_thread(sandbox.evaluate_many, requests_for(problem, code, instance_sets))


def outcome_from(instance_sets: list[str], results: list[Any]) -> Outcome:
    """Flatten per-set results. The first failing set decides a failure; the score is the mean over sets."""
    for s, r in zip(instance_sets, results):
        if r.status != "ok" or r.score is None:
            error = r.error or r.status
            if len(instance_sets) > 1:
                error = f"[{s}] {error}"
            return Outcome(status=r.status, error=error, traceback=r.traceback, stderr_tail=r.stderr_tail,
                           duration_s=sum((x.duration_s or 0.0) for x in results))
    instances: dict[str, float] = {}
    for s, r in zip(instance_sets, results):
        for inst, metrics in r.instances.items():
            value = metrics.get("score") if isinstance(metrics, dict) else metrics
            if value is not None:
                instances[inst if len(instance_sets) == 1 else f"{s}/{inst}"] = float(value)
    score = sum(r.score for r in results) / len(results)
    return Outcome(status="ok", score=score, instances=instances, duration_s=sum((r.duration_s or 0.0) for r in results))


def outcome_from_rows(instance_sets: list[str], rows: list[Any]) -> Outcome:
    """The same, from stored evaluation rows (one per set, newest wins)."""
    by_set = {r.instance_set: r for r in rows}
    if not all(s in by_set for s in instance_sets):
        return Outcome(status="pending")
    return outcome_from(instance_sets, [by_set[s] for s in instance_sets])
