"""`discover prompt`: the typer command for prompt-optimization jobs. The CLI wires it in with
`from discover.prompting.commands import register; register(app)`."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

import typer
from rich.table import Table

from discover.console import console


def _pct(x: float | None) -> str:
    return "—" if x is None else f"{100 * x:.1f} %"


def results_table(summary: Any) -> Table:
    t = Table(title=f"prompt:{summary.task} · {summary.n_train} train / {summary.n_test} held-out test examples",
              show_lines=True)
    t.add_column("instruction", overflow="fold", max_width=70)
    t.add_column("id")
    t.add_column("train acc", justify="right")
    t.add_column("test acc", justify="right")
    rows = []
    if summary.start is not None:
        rows.append(("start", summary.start))
    if summary.best is not None and (summary.start is None or summary.best.id != summary.start.id):
        rows.append(("best", summary.best))
    for label, c in rows:
        t.add_row(f"[bold]{label}:[/bold] {c.code or '(empty)'}", c.id, _pct(c.train_score), _pct(summary.test_scores.get(c.id)))
    return t


def prompt(
    task: Optional[str] = typer.Option(None, "--task", "-t", help="Built-in task name or a JSONL file ({input, target} per line)."),
    train: Optional[Path] = typer.Option(None, "--train", help="JSONL train file (with --test instead of --task)."),
    test: Optional[Path] = typer.Option(None, "--test", help="JSONL held-out test file."),
    task_model: Optional[str] = typer.Option(None, help="Model that answers the task (default local/qwen2.5-coder-0.5b)."),
    optimizer_model: Optional[str] = typer.Option(None, help="Model that writes instructions (default: same)."),
    scorer: Optional[str] = typer.Option(None, help="exact, contains, numeric, choice, label (local task model: the answer is "
                                                   "constrained to the labels), regex:PATTERN, or path/to/scorer.py "
                                                   "defining score(output, target) -> float (run in the sandbox)."),
    labels: Optional[str] = typer.Option(None, help="Comma-separated labels for the choice and label scorers."),
    start: Optional[str] = typer.Option(None, help="Starting instruction, e.g. \"Let's think step by step.\" (default empty)."),
    steps: Optional[int] = typer.Option(None, help="Optimization steps."),
    candidates: Optional[int] = typer.Option(None, "--candidates", help="New instructions per step."),
    minibatch: Optional[int] = typer.Option(None, help="Screen each new instruction on this many train examples first."),
    max_train: Optional[int] = typer.Option(None, help="Use at most this many train examples."),
    max_test: Optional[int] = typer.Option(None, help="Use at most this many test examples."),
    no_feedback: bool = typer.Option(False, "--no-feedback", help="Plain OPRO: no failure examples or reflection."),
    api_base: Optional[str] = typer.Option(None, help="Base URL of an OpenAI-compatible server."),
    max_llm_calls: Optional[int] = typer.Option(None, help="Stop after this many paid LLM calls (task + optimizer)."),
    max_cost_usd: Optional[float] = typer.Option(None, help="Stop when LLM cost reaches this."),
    timeout: Optional[float] = typer.Option(None, help="Wall-clock limit for the search in seconds."),
    seed: Optional[int] = typer.Option(None, help="Seed for splits, minibatch and exemplars."),
    llm_concurrency: Optional[int] = typer.Option(None, help="Concurrent LLM calls."),
    sandbox: Optional[str] = typer.Option(None, help="Sandbox for a user scorer: auto, bwrap, docker or process."),
    schedule: Optional[str] = typer.Option(None, help="generational (default: OPRO's steps) or steady."),
    strategy: Optional[str] = typer.Option(None, help="opro (default) or reflective: reflection on failures, merges and "
                                                      "few-shot demo search (docs/prompt-search.md)."),
    archive: Optional[str] = typer.Option(None, help="ranked (default) or pareto: keep every instruction that is best on "
                                                     "some train example."),
    max_task_calls: Optional[int] = typer.Option(None, help="Stop the search after this many paid task-model calls "
                                                            "(held-out scoring not counted)."),
    max_optimizer_calls: Optional[int] = typer.Option(None, help="At most this many paid optimizer calls."),
    demos: Optional[int] = typer.Option(None, help="Few-shot demos per candidate in the demo search (default 3)."),
    config: Optional[Path] = typer.Option(None, "--config", help="TOML or YAML file with any prompt-job setting."),
    resume: Optional[str] = typer.Option(None, help="Continue a stopped or crashed prompt run (id or prefix)."),
    progress: str = typer.Option("auto", help="auto, terminal, plain, json or quiet."),
    runs_dir: Optional[Path] = typer.Option(None, envvar="DISCOVER_RUNS_DIR", help="Where runs are stored (default ./runs)."),
) -> None:
    """Optimize an instruction (prompt) for a task: OPRO search with directional feedback, scored on held-out data.
    The same loop as `discover evolve` on a prompt target (this command keeps OPRO's option names)."""
    from discover.config import read_config_file
    from discover.progress import watch
    from discover.prompting.api import run_prompt_job, validate_config
    from discover.store import Store

    flags = dict(task=task, train_file=str(train) if train else None, test_file=str(test) if test else None,
                 task_model=task_model, optimizer_model=optimizer_model, scorer=scorer,
                 labels=[x.strip() for x in labels.split(",") if x.strip()] if labels else None, start=start, steps=steps,
                 candidates_per_step=candidates, minibatch=minibatch, max_train=max_train, max_test=max_test,
                 feedback=False if no_feedback else None, api_base=api_base, max_llm_calls=max_llm_calls,
                 max_cost_usd=max_cost_usd, timeout_s=timeout, seed=seed, llm_concurrency=llm_concurrency, sandbox=sandbox,
                 schedule=schedule, strategy=strategy, archive=archive, max_task_calls=max_task_calls,
                 max_optimizer_calls=max_optimizer_calls, demos=demos)
    given = {k: v for k, v in flags.items() if v is not None}
    data: dict[str, Any] = read_config_file(config) if config else {}
    if task_model and not optimizer_model and "optimizer_model" not in data:
        given["optimizer_model"] = task_model
    data.update(given)
    cfg = validate_config(data)
    if not resume:
        from discover.prompting.rollouts import estimate_for

        plan = estimate_for(cfg.to_run_config())
        if plan is not None:
            console.print(plan.text())
    with watch(console, mode=progress) as show:
        summary = run_prompt_job(cfg, runs_dir=runs_dir, resume=resume, overrides=given if resume else None,
                                 subscribers=(show,))
    console.print(f"Stopped: {summary.stop_reason}.")
    console.print(results_table(summary))
    s = summary.stats
    console.print(f"{s.llm_calls} paid LLM calls ({s.task_calls} task, {s.optimizer_calls} optimizer this session), "
                  f"{s.cached_calls} cached, ${s.cost_usd:.4f}, {s.elapsed_s:.0f} s")
    store = Store(runs_dir)
    best = summary.best.id if summary.best else summary.run_id
    console.print(f"Run {summary.run_id} stored in {store.path}  ·  inspect: discover show {best}")


def register(app: typer.Typer) -> None:
    """Adds `discover prompt` to the CLI app."""
    app.command("prompt")(prompt)
