"""Entry points kept for callers of the earlier API: `evolve(config, runs_dir=...)` (now discover.api.evolve over
the one loop) and `score_file` (score a user's own file exactly as candidates are scored)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from discover.config import RunConfig
from discover.engine import Interrupted, RunStats, RunSummary, make_gateway, run_sync
from discover.errors import DiscoverError
from discover.extract import MalformedOutput, check_code
from discover.problem import Problem, load_problem

__all__ = ["Interrupted", "RunStats", "RunSummary", "evolve", "make_gateway", "score_file"]


def evolve(config: RunConfig, *, runs_dir: Path | str | None = None, resume: str | None = None,
           overrides: dict[str, Any] | None = None, **kwargs: Any) -> RunSummary:
    return run_sync(config, runs_dir=runs_dir, resume=resume, overrides=overrides, **kwargs)


def score_file(problem_name: str, path: Path, split: str = "test", sandbox_kind: str = "auto",
               workers: int | None = None) -> tuple[Problem, str, dict[str, Any]]:
    """Score a user's own file exactly as candidates are scored. Returns (problem, backend, {set: EvalResult})."""
    from discover.targets.code import open_code_evaluator

    problem = load_problem(problem_name)
    try:
        code = path.read_text()
    except OSError as exc:
        raise DiscoverError(f"cannot read {path}: {exc.strerror}") from exc
    try:
        check_code(code, problem.spec.entry.name, problem.spec.entry.signature)
    except MalformedOutput as exc:
        raise DiscoverError(f"{path}: {exc}") from exc
    sets = problem.spec.splits.train if split == "train" else problem.spec.splits.test
    if split not in ("train", "test"):
        sets = [split]
    config = RunConfig(problem=problem_name, sandbox=sandbox_kind, workers=workers)
    with open_code_evaluator(problem, config) as evaluator:
        results = asyncio.run(evaluator.evaluate(code, sets, split=split if split in ("train", "test") else "train"))
        return problem, evaluator.backend, dict(zip(sets, results))
