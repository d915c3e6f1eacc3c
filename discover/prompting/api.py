"""Library entry point for prompt-optimization jobs (the CLI's `discover prompt` calls this)."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import Any, Callable

from pydantic import ValidationError

from discover.errors import ConfigError, StoreError
from discover.interrupt import interrupted_reason, run_job
from discover.llm.providers import in_process
from discover.prompting.datasets import PromptTask
from discover.prompting.engine import PromptConfig, PromptJob, PromptStats, PromptSummary, check_prompt_run
from discover.prompting.scorers import Scorer, UserScorer, make_scorer
from discover.store import Store
from discover.store.call_log import StoreCallLog


def make_prompt_gateway(store: Store, run_id: str, config: PromptConfig) -> Any:
    from discover.llm import Budget, Gateway

    totals = store.run_llm_totals(run_id)
    budget = Budget(max_calls=config.max_llm_calls, max_cost_usd=config.max_cost_usd,
                    used_calls=int(totals["calls"]), used_cost_usd=float(totals["cost_usd"]))
    return Gateway(call_log=StoreCallLog(store, run_id), budget=budget, concurrency=config.llm_concurrency,
                   timeout_s=config.llm_timeout_s, api_base=config.api_base)


def validate_config(data: dict[str, Any]) -> PromptConfig:
    try:
        return PromptConfig.model_validate(data)
    except ValidationError as exc:
        e = exc.errors()[0]
        where = ".".join(str(p) for p in e["loc"]) or "(top level)"
        raise ConfigError(f"prompt job options: {where}: {e['msg']}") from None


def start_or_resume(store: Store, config: PromptConfig, resume: str | None,
                    overrides: dict[str, Any]) -> tuple[str, PromptConfig, PromptTask]:
    if resume:
        run = store.get_run(resume)
        check_prompt_run(store, run.id)
        if run.status == "finished" and not overrides:
            raise StoreError(f"run {run.id} already finished; pass a larger budget (e.g. --steps) to continue it")
        config = validate_config({**run.config, **overrides})
        task = config.load_task()
        store.set_run_status(run.id, "running", None, pid=os.getpid(), config=config.model_dump())
        return run.id, config, task
    task = config.load_task()
    run_id = store.create_run(problem=f"prompt:{task.name}", problem_dir=task.source, kind="prompt", strategy="opro",
                              model=config.optimizer_model, sandbox=None, config=config.model_dump())
    return run_id, config, task


@contextlib.contextmanager
def _scorer(config: PromptConfig, task: PromptTask):
    spec = config.scorer or task.scorer
    if spec.endswith(".py"):
        from discover.sandbox import open_sandbox

        scorer = make_scorer(spec, timeout_s=config.scorer_timeout_s)
        try:
            with open_sandbox(config.sandbox, workers=1) as sb:
                scorer.sandbox = sb  # type: ignore[attr-defined]
                yield scorer, sb.backend
        finally:
            scorer.close()  # type: ignore[attr-defined]
    else:
        labels = config.labels or task.labels or sorted({e.target for e in task.train})
        if spec == "label" and not in_process(config.task_model):
            raise ConfigError(f"the label scorer needs an in-process task model (local/...), not {config.task_model}: "
                              f"a hosted API returns text only; use --scorer choice")
        yield make_scorer(spec, labels=labels), None


def run_prompt_job(config: PromptConfig | dict[str, Any], *, runs_dir: Path | str | None = None,
                   resume: str | None = None, overrides: dict[str, Any] | None = None, gateway: Any = None,
                   scorer: Scorer | None = None,
                   on_start: Callable[[str, PromptConfig, PromptTask], None] | None = None,
                   on_update: Callable[[PromptStats], None] | None = None) -> PromptSummary:
    """Start (or resume, by run id or prefix) a prompt-optimization run; returns its summary.
    `gateway`/`scorer` replace the ones built from the config (tests, embedding)."""
    from discover.run import Interrupted

    if isinstance(config, dict):
        config = validate_config(config)
    store = Store(runs_dir)
    run_id, config, task = start_or_resume(store, config, resume, overrides or {})
    try:
        with (contextlib.nullcontext((scorer, None)) if scorer is not None else _scorer(config, task)) as (sc, backend):
            if backend:
                store.set_run_status(run_id, "running", None, sandbox=backend)
            if isinstance(sc, UserScorer) and sc.sandbox is None:
                raise ConfigError("a user scorer passed to run_prompt_job needs its sandbox set")
            if on_start:
                on_start(run_id, config, task)
            job = PromptJob(store=store, run_id=run_id, config=config, task=task, scorer=sc,
                            gateway=gateway or make_prompt_gateway(store, run_id, config), on_update=on_update)

            async def main() -> tuple[str, dict]:
                reason = await job.run()
                return reason, await job.score_test()

            reason, test_scores = run_job(main)
    except KeyboardInterrupt as exc:
        store.set_run_status(run_id, "stopped", interrupted_reason(exc))
        raise Interrupted(f"interrupted; run {run_id} kept everything so far. Resume with: discover prompt --resume {run_id}",
                          run_id=run_id) from None
    except BaseException as exc:
        store.set_run_status(run_id, "crashed", f"{type(exc).__name__}: {exc}")
        raise
    finished = reason.startswith("all ")
    status = "finished" if finished else "stopped"
    store.set_run_status(run_id, status, reason)
    return PromptSummary(run_id=run_id, status=status, stop_reason=reason, task=task.name, start=job.start_row(),
                         best=job.best(), test_scores=test_scores, stats=job.stats, n_train=len(task.train),
                         n_test=len(task.test))
