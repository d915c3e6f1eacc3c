"""Evaluate a candidate's code on a problem's instance sets: the candidate side on an executor (a sandbox), the
score from the trusted judge, then the checks no candidate can influence (impossible scores are `suspicious`,
candidate-side text is scrubbed of hidden data). Also: flatten per-set results into the Outcome that feedback and
selection use."""

from __future__ import annotations

import asyncio
import math
from contextlib import contextmanager
from typing import Any, Iterator

from discover import wire
from discover.errors import ProblemError, SandboxError
from discover.executors.base import CandidateRun, RawRun
from discover.feedback import Outcome
from discover.judge import Judge, scrub
from discover.problem import Problem
from discover.sandbox.models import EvalResult

TOLERANCE = 1e-6  # a score better than the optimum by more than this (times max(1, |optimum|)) is impossible;
#                   below it is float rounding (an optimal tour re-measured in another order)


class Evaluator:
    """The trusted side of evaluation for one problem.

        await evaluate(code, instance_sets, split="train", deadline=None, instance_ids=None) -> [EvalResult]

    One result per set. Raises ProblemError when the problem's own code fails (its trusted side, or its candidate
    side before any candidate code ran): that is never a candidate's fault."""

    def __init__(self, problem: Problem, executor: Any, judge: Judge | None = None) -> None:
        from discover.contract import candidate_files

        from discover.sandbox import Sandbox

        if isinstance(executor, Sandbox):
            from discover.executors.local import LocalExecutor

            executor = LocalExecutor(executor)
        self.problem = problem
        self.executor = executor
        self.judge = judge or Judge(problem.root, workers=max(1, min(2, executor.capacity)))
        self.files = candidate_files(problem.root, problem.spec.sandbox.files)
        self._probe_result: RawRun | None = None
        self._hidden: dict[str, list] = {}

    @property
    def capacity(self) -> int:
        return self.executor.capacity

    @property
    def backend(self) -> str:
        return getattr(self.executor, "backend", getattr(self.executor, "name", "?"))

    def describe(self) -> dict[str, Any]:
        return self.executor.describe()

    def _job(self, code: str, instance_set: str, payload: bytes, key: str = "") -> CandidateRun:
        lim = self.problem.spec.limits
        return CandidateRun(code=code, files=self.files, instance_set=instance_set, payload=payload,
                            timeout_s=lim.timeout_s, memory_mb=lim.memory_mb, scratch_mb=lim.scratch_mb,
                            gpus=lim.gpus, cpus=lim.cpus, key=key)

    async def _probe(self) -> None:
        """Once: the problem's candidate side loads in the sandbox (a failure there is the problem's, not the first
        candidate's)."""
        if self._probe_result is None:  # concurrent first calls may probe twice: harmless, and no loop-bound state
            raw = await self.executor.run(self._job("", "(probe)", wire.encode({})))
            if raw.status == "cancelled":
                return
            self._probe_result = raw
        raw = self._probe_result
        if raw.extra.get("problem_fault"):
            raise ProblemError(f"{self.problem.root / 'evaluate.py'}: {raw.error}", path=str(self.problem.root))
        if raw.status not in ("ok", "cancelled"):
            raise SandboxError(f"the {self.backend} sandbox cannot run {self.problem.name}'s candidate side: "
                               f"{raw.status}: {raw.error}")

    async def evaluate(self, code: str, instance_sets: list[str], *, split: str = "train",
                       deadline: float | None = None, instance_ids: dict[str, list[str]] | None = None,
                       key: str = "") -> list[EvalResult]:
        await self._probe()
        return list(await asyncio.gather(*(
            self._one(code, s, deadline, (instance_ids or {}).get(s), f"{key}/{split}/{s}" if key else "")
            for s in instance_sets)))

    async def _hidden_for(self, instance_set: str) -> list:
        if instance_set not in self._hidden:
            self._hidden[instance_set] = await asyncio.to_thread(self.judge.hidden, instance_set) or []
        return self._hidden[instance_set]

    async def _one(self, code: str, instance_set: str, deadline: float | None, ids: list[str] | None,
                   key: str) -> EvalResult:
        payload, sent = await asyncio.to_thread(self.judge.payload, instance_set, ids)
        raw = await self.executor.run(self._job(code, instance_set, payload, key), deadline)
        hidden = await self._hidden_for(instance_set)
        tails = dict(stdout_tail=scrub(raw.stdout_tail, hidden, 6000, "tail") or "",
                     stderr_tail=scrub(raw.stderr_tail, hidden, 6000, "tail") or "",
                     duration_s=raw.duration_s)
        if raw.status != "ok" or raw.output is None:
            status = raw.status if raw.status != "ok" else "error"
            return EvalResult(status=status, error=scrub(raw.error or status, hidden, 600),
                              traceback=scrub(raw.traceback, hidden), **tails)
        verdict = await asyncio.to_thread(self.judge.score, instance_set, raw.output, sent)
        if verdict.hidden:
            self._hidden[instance_set] = list({*hidden, *verdict.hidden})
        if verdict.status != "ok":
            return EvalResult(status=verdict.status, error=scrub(verdict.error, self._hidden[instance_set], 600), **tails)
        why = self.impossible(verdict.score, verdict.instances)
        return EvalResult(status="suspicious" if why else "ok", score=verdict.score, instances=verdict.instances,
                          error=why, **tails)

    def impossible(self, score: float | None, instances: dict[str, dict]) -> str | None:
        """Why a score the judge computed cannot be right (not finite, better than the declared optimum or an
        instance's bound), else None."""
        spec = self.problem.spec.score
        better = (lambda a, b: a < b) if spec.direction == "minimize" else (lambda a, b: a > b)

        def beyond(v: float, bound: float) -> bool:
            return better(v, bound) and abs(v - bound) > TOLERANCE * max(1.0, abs(bound))

        if score is None or not math.isfinite(score):
            return f"the score is not a finite number ({score})"
        for iid, m in instances.items():
            s = m.get("score")
            if not isinstance(s, (int, float)) or not math.isfinite(s):
                return f"instance {iid}: the score is not a finite number ({s})"
            if spec.optimum is not None and beyond(s, spec.optimum):
                return f"instance {iid}: score {s:.6g} is better than the optimum {spec.optimum:g}"
            b = m.get("bound")
            if isinstance(b, (int, float)) and beyond(s, b):
                return f"instance {iid}: score {s:.6g} is better than its bound {b:.6g}"
        if spec.optimum is not None and beyond(score, spec.optimum):
            return f"score {score:.6g} is better than the optimum {spec.optimum:g}"
        return None

    def close(self) -> None:
        self.judge.close()
        self.executor.close()


@contextmanager
def open_evaluator(problem: Problem, config: Any = None, **options: Any) -> Iterator[Evaluator]:
    """An Evaluator on the executor the config names (default: the local sandbox pool)."""
    from discover.executors import open_executor

    name = options.pop("executor", None) or getattr(config, "executor", None) or "local"
    opts = {"sandbox": getattr(config, "sandbox", None) or "auto", "workers": getattr(config, "workers", None),
            "gpus": problem.spec.limits.gpus or None}
    for k in ("ray_address",):
        if getattr(config, k, None) is not None:
            opts[k] = getattr(config, k)
    opts.update(options)
    executor = open_executor(name, **opts)
    ev = Evaluator(problem, executor)
    try:
        yield ev
    finally:
        ev.close()


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
