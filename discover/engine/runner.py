"""Starting, resuming and finishing a run around the loop: the store row and its one owner, the gateway, the target,
the run's status at the end (finished, stopped with a reason, crashed), and the sync entry point that also works
inside a running event loop (Jupyter)."""

from __future__ import annotations

import asyncio
import concurrent.futures
import os
from pathlib import Path
from typing import Any, Callable

from discover.config import RunConfig, merge_config
from discover.engine.loop import Loop
from discover.engine.stats import RunSummary
from discover.errors import DiscoverError, RunLocked, StoreError
from discover.events import EventBus, RunEvent
from discover.interrupt import interrupted_reason, run_job
from discover.store import Store
from discover.store.db import default_runs_dir
from discover.store.call_log import StoreCallLog

HEARTBEAT_S = 15.0


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


def resumed_config(store: Store, resume: str, overrides: dict[str, Any] | None) -> tuple[str, RunConfig]:
    """A resumed run keeps its own config, with what the user passed again (budgets) on top."""
    run = store.get_run(resume)
    if run.status == "finished" and not overrides:
        raise StoreError(f"run {run.id} already finished; pass a larger budget (e.g. --generations) to continue it")
    config = merge_config(run.config, overrides or {}, source=f"run {run.id}'s config", keep_none=True)
    if run.kind != "prompt" or not (config.prompt.task or config.prompt.train_file):
        config = config.model_copy(update={"problem": run.problem_dir})  # the folder it ran on, wherever we are now
    return run.id, config


async def run_async(config: RunConfig, *, runs_dir: Path | str | None = None, resume: str | None = None,
                    overrides: dict[str, Any] | None = None, gateway: Any = None, evaluator: Any = None,
                    scorer: Any = None, subscribers: tuple[Callable[[RunEvent], None], ...] = (),
                    started: dict[str, str] | None = None, takeover: bool = False) -> RunSummary:
    """Start (or resume, by run id or prefix) a run and wait for it. `gateway`, `evaluator` (code targets) and
    `scorer` (prompt targets) replace the ones built from the config (tests, embedding)."""
    from discover.targets import open_target

    store = Store(runs_dir, create=not resume)  # a resume pointed at the wrong folder creates nothing
    run_id = None
    if resume:
        run_id, config = resumed_config(store, resume, overrides)
    events = EventBus(*subscribers)
    injected = {k: v for k, v in (("evaluator", evaluator), ("scorer", scorer)) if v is not None}
    with open_target(config, **injected) as target:
        if config.strategy is None:  # the run records what it ran
            config = config.model_copy(update={"strategy": getattr(target, "default_strategy", "eoh")})
        header = target.header()
        if run_id is None:
            run_id = store.create_run(problem=target.name, problem_dir=target.source, kind=target.kind,
                                      strategy=config.strategy, model=config.model, sandbox=header.get("sandbox"),
                                      config=config.model_dump())
        store.claim_run(run_id, takeover=takeover)  # raises RunLocked while another live process runs it
        if started is not None:
            started["run_id"] = run_id
        try:
            store.set_run_status(run_id, "running", None, pid=os.getpid(), config=config.model_dump(),
                                 sandbox=header.get("sandbox"))
            loop = Loop(store=store, run_id=run_id, config=config, target=target,
                        gateway=gateway or make_gateway(store, run_id, config), events=events)
            events.emit("run_started", run_id, **header, strategy=config.strategy, model=config.model,
                        schedule=config.schedule, llm_concurrency=config.llm_concurrency,
                        max_proposals=loop.layout.max_proposals, max_llm_calls=config.max_llm_calls,
                        max_cost_usd=config.max_cost_usd, timeout_s=config.timeout_s)
            beat = asyncio.create_task(_heartbeat(store, run_id, loop))
            try:
                reason = await loop.run()
                test_scores = await loop.score_test()
            finally:
                beat.cancel()
        except asyncio.CancelledError:
            store.set_run_status(run_id, "stopped", "interrupted (cancelled)")
            events.emit("run_finished", run_id, status="stopped", stop_reason="interrupted")
            raise
        except DiscoverError as exc:  # e.g. the LLM provider keeps failing, the problem's scorer broke: resumable
            store.set_run_status(run_id, "stopped", exc.message)
            events.emit("run_finished", run_id, status="stopped", stop_reason=exc.message)
            raise
        except BaseException as exc:
            store.set_run_status(run_id, "crashed", f"{type(exc).__name__}: {exc}")
            raise
        finally:
            store.release_run(run_id)
    status = "finished" if reason.startswith("all ") else "stopped"
    store.set_run_status(run_id, status, reason)
    events.emit("run_finished", run_id, status=status, stop_reason=reason)
    return RunSummary(run_id=run_id, status=status, stop_reason=reason, kind=target.kind, problem=target.name,
                      best=loop.best(), seed=loop.seed_row(), test_scores=test_scores, stats=loop.stats, header=header)


async def _heartbeat(store: Store, run_id: str, loop: Loop) -> None:
    while True:
        await asyncio.sleep(HEARTBEAT_S)
        try:
            store.heartbeat(run_id)
        except RunLocked as exc:
            loop._stop(exc.message)  # another process took the run over: stop cleanly at the next check
            return


def run_sync(config: RunConfig, *, resume_command: str = "discover evolve", **kwargs: Any) -> RunSummary:
    """run_async to completion from synchronous code. Ctrl-C/SIGTERM (through discover.interrupt) stop it cleanly
    and raise Interrupted. Inside a running event loop (Jupyter) the job runs in a worker thread with its own loop."""
    started: dict[str, str] = {}

    def job() -> RunSummary:
        try:
            return run_job(lambda: run_async(config, started=started, **kwargs))
        except KeyboardInterrupt as exc:
            run = started.get("run_id")
            if run is None:
                raise
            Store(kwargs.get("runs_dir")).set_run_status(run, "stopped", interrupted_reason(exc))
            where = kwargs.get("runs_dir")
            # the printed command must work as it is: name the runs dir unless it is the default one
            flag = f" --runs-dir {where}" if where is not None and Path(where).resolve() != default_runs_dir().resolve() else ""
            raise Interrupted(f"interrupted; run {run} kept everything so far. Resume with: {resume_command} "
                              f"--resume {run}{flag}", run_id=run) from None

    if not _in_running_loop():
        return job()
    with concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="discover-run") as pool:
        return pool.submit(job).result()


def _in_running_loop() -> bool:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True
