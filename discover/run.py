"""Library entry points behind the CLI: start or resume an evolution run, score a user's file."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any, Callable

from discover.config import RunConfig
from discover.errors import DiscoverError, StoreError
from discover.evaluation import evaluate_sets
from discover.evolve import Evolution, RunStats, RunSummary
from discover.extract import MalformedOutput, check_code
from discover.interrupt import interrupted_reason, run_job
from discover.problem import Problem, load_problem
from discover.store import Store
from discover.store.call_log import StoreCallLog


class Interrupted(DiscoverError):
    """Ctrl-C: the run is stopped cleanly; everything recorded so far is kept."""

    exit_code = 130


def make_gateway(store: Store, run_id: str, config: RunConfig) -> Any:
    from discover.llm import Budget, Gateway

    totals = store.run_llm_totals(run_id)
    budget = Budget(max_calls=config.max_llm_calls, max_cost_usd=config.max_cost_usd,
                    used_calls=int(totals["calls"]), used_cost_usd=float(totals["cost_usd"]))
    return Gateway(call_log=StoreCallLog(store, run_id), budget=budget, concurrency=config.llm_concurrency,
                   timeout_s=config.llm_timeout_s, max_retries=config.llm_retries, api_base=config.api_base)


def start_or_resume(store: Store, config: RunConfig, resume: str | None,
                    overrides: dict[str, Any]) -> tuple[str, RunConfig, Problem]:
    """A new run records its config; a resumed run keeps its own, with budgets the user passed again on top."""
    if resume:
        run = store.get_run(resume)
        if run.status == "finished" and not overrides:
            raise StoreError(f"run {run.id} already finished; pass a larger budget (e.g. --generations) to continue it")
        config = RunConfig.model_validate({**run.config, **overrides})
        problem = load_problem(run.problem_dir)
        store.set_run_status(run.id, "running", None, pid=__import__("os").getpid(), config=config.model_dump())
        return run.id, config, problem
    problem = load_problem(config.problem)
    run_id = store.create_run(problem=problem.name, problem_dir=str(problem.root), kind=problem.spec.kind,
                              strategy=config.strategy, model=config.model, sandbox=None, config=config.model_dump())
    return run_id, config, problem


def evolve(config: RunConfig, *, runs_dir: Path | None = None, resume: str | None = None,
           overrides: dict[str, Any] | None = None, gateway: Any = None,
           on_start: Callable[[str, RunConfig, Problem, str], None] | None = None,
           on_update: Callable[[RunStats], None] | None = None) -> RunSummary:
    from discover.sandbox import open_sandbox

    store = Store(runs_dir)
    run_id, config, problem = start_or_resume(store, config, resume, overrides or {})
    try:
        with open_sandbox(config.sandbox, workers=config.workers) as sandbox:
            store.set_run_status(run_id, "running", None, sandbox=sandbox.backend)
            if on_start:
                on_start(run_id, config, problem, sandbox.backend)
            evo = Evolution(store=store, run_id=run_id, config=config, problem=problem,
                            gateway=gateway or make_gateway(store, run_id, config), sandbox=sandbox, on_update=on_update)

            async def main() -> tuple[str, dict]:
                reason = await evo.run()
                return reason, await evo.score_test()

            reason, test_scores = run_job(main)
    except KeyboardInterrupt as exc:
        store.set_run_status(run_id, "stopped", interrupted_reason(exc))
        raise Interrupted(f"interrupted; run {run_id} kept everything so far. Resume with: discover evolve --resume {run_id}",
                          run_id=run_id) from None
    except DiscoverError as exc:  # e.g. the LLM provider keeps failing: a clean stop, resumable
        store.set_run_status(run_id, "stopped", exc.message)
        raise
    except BaseException as exc:
        store.set_run_status(run_id, "crashed", f"{type(exc).__name__}: {exc}")
        raise
    budget_hit = not reason.startswith("all ")
    store.set_run_status(run_id, "stopped" if budget_hit else "finished", reason)
    best = evo.best()
    seed = next((c for c in evo.candidates.values() if c.operator == "seed"), None)
    return RunSummary(run_id=run_id, status="stopped" if budget_hit else "finished", stop_reason=reason, best=best,
                      seed_id=seed.id if seed else None, test_scores=test_scores, stats=evo.stats)


def score_file(problem_name: str, path: Path, split: str = "test", sandbox_kind: str = "auto",
               workers: int | None = None) -> tuple[Problem, str, dict[str, Any]]:
    """Score a user's own file exactly as candidates are scored. Returns (problem, backend, {set: EvalResult})."""
    from discover.sandbox import open_sandbox

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
    with open_sandbox(sandbox_kind, workers=workers) as sandbox:
        results = asyncio.run(evaluate_sets(sandbox, problem, code, sets, asyncio.Semaphore(1)))
        return problem, sandbox.backend, dict(zip(sets, results))
