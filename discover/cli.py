"""Command line: thin wrappers over the library. Errors become one line and an exit code."""

from __future__ import annotations

import json
import signal
import sys
import warnings
from pathlib import Path
from typing import Any, Optional

import typer
from rich.live import Live
from rich.table import Table

from discover.console import console, err_console
from discover.errors import DiscoverError
from discover.interrupt import request_stop, signal_reason

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="Discover algorithms and prompts with LLMs: evolve, evaluate in a sandbox, review.")


def _fmt(x: float | None, digits: int = 3) -> str:
    return "—" if x is None else f"{x:.{digits}f}"


def _status_table(stats: Any, header: str) -> Table:
    t = Table(title=header, show_header=True, header_style="bold")
    for col in ("gen", "best train", "valid", "invalid", "rejected", "dupes", "LLM calls", "cached", "tokens", "cost $", "elapsed"):
        t.add_column(col, justify="right")
    t.add_row(str(stats.generation), _fmt(stats.best_score), str(stats.valid), str(stats.invalid), str(stats.rejected),
              str(stats.duplicates), str(stats.llm_calls), str(stats.cached_calls),
              str(stats.prompt_tokens + stats.completion_tokens), f"{stats.cost_usd:.4f}", f"{stats.elapsed_s:.0f} s")
    return t


def _results_table(problem: Any, rows: list[tuple[str, dict[str, float | None]]], title: str) -> Table:
    sets = problem.spec.splits.test
    unit = problem.spec.score.unit
    t = Table(title=f"{title} ({unit}, {'lower' if problem.minimize else 'higher'} is better)")
    t.add_column("heuristic")
    for s in sets:
        t.add_column(s, justify="right")
    for name, scores in rows:
        t.add_row(name, *(_fmt(scores.get(s), 2) for s in sets))
    for name, scores in problem.spec.baselines.items():
        t.add_row(f"[dim]{name} (baseline)[/dim]", *(f"[dim]{_fmt(scores.get(s), 2)}[/dim]" for s in sets))
    return t


@app.command()
def evolve(
    problem: str = typer.Option("tsp", "--problem", "-p", help="Problem name or path to a problem folder."),
    strategy: Optional[str] = typer.Option(None, help="eoh (default) or opro."),
    model: Optional[str] = typer.Option(None, help="litellm model string, or local/qwen2.5-coder-0.5b (default)."),
    api_base: Optional[str] = typer.Option(None, help="Base URL of an OpenAI-compatible server."),
    generations: Optional[int] = typer.Option(None, help="Number of generations."),
    population: Optional[int] = typer.Option(None, help="Population size (candidates per generation)."),
    max_llm_calls: Optional[int] = typer.Option(None, help="Stop after this many paid LLM calls."),
    max_cost_usd: Optional[float] = typer.Option(None, help="Stop when LLM cost reaches this."),
    timeout: Optional[float] = typer.Option(None, help="Wall-clock limit in seconds."),
    seed: Optional[int] = typer.Option(None, help="Seed for the non-LLM randomness."),
    sandbox: Optional[str] = typer.Option(None, help="auto, bwrap, docker or process."),
    workers: Optional[int] = typer.Option(None, help="Parallel sandbox workers (default: cores)."),
    llm_concurrency: Optional[int] = typer.Option(None, help="Concurrent LLM calls."),
    config: Optional[Path] = typer.Option(None, "--config", help="TOML or YAML file with any run setting."),
    resume: Optional[str] = typer.Option(None, help="Continue a stopped or crashed run (id or prefix)."),
    runs_dir: Optional[Path] = typer.Option(None, envvar="DISCOVER_RUNS_DIR", help="Where runs are stored (default ./runs)."),
) -> None:
    """Evolve heuristics for a problem with an LLM, scored in a sandbox."""
    from discover.config import build_config
    from discover.run import evolve as run_evolve

    flags = dict(strategy=strategy, model=model, api_base=api_base, generations=generations, population=population,
                 max_llm_calls=max_llm_calls, max_cost_usd=max_cost_usd, timeout_s=timeout, seed=seed, sandbox=sandbox,
                 workers=workers, llm_concurrency=llm_concurrency)
    given = {k: v for k, v in flags.items() if v is not None}
    cfg = build_config(config, problem=problem, **given)
    live: Live | None = None
    header = {"text": "discover"}

    def on_start(run_id: str, cfg: Any, prob: Any, backend: str) -> None:
        nonlocal live
        header["text"] = f"run {run_id} · {prob.name} · {cfg.strategy} · {cfg.model} · sandbox {backend}"
        live = Live(console=console, refresh_per_second=4, transient=False)
        live.start()

    def on_update(stats: Any) -> None:
        if live is not None:
            live.update(_status_table(stats, header["text"]))

    try:
        summary = run_evolve(cfg, runs_dir=runs_dir, resume=resume, overrides=given if resume else None,
                             on_start=on_start, on_update=on_update)
    finally:
        if live is not None:
            live.stop()
            if not console.is_terminal:
                console.print()  # off a terminal, Live leaves its last frame without a line end
    from discover.problem import load_problem
    from discover.store import Store

    store = Store(runs_dir)
    prob = load_problem(store.get_run(summary.run_id).problem_dir)
    console.print(f"Stopped: {summary.stop_reason}.")
    rows = []
    if summary.best is not None and summary.best.id in summary.test_scores:
        rows.append((f"best {summary.best.id} (train {_fmt(summary.best.train_score)})", summary.test_scores[summary.best.id]))
    if summary.seed_id and summary.seed_id in summary.test_scores and (summary.best is None or summary.seed_id != summary.best.id):
        rows.append((f"seed {summary.seed_id}", summary.test_scores[summary.seed_id]))
    if rows:
        console.print(_results_table(prob, rows, "Held-out test scores"))
    if summary.best is not None:
        console.print(f"Best thought: {summary.best.thought or '(none)'}")
    console.print(f"Run {summary.run_id} stored in {store.path}  ·  inspect: discover show {summary.best.id if summary.best else summary.run_id}")


@app.command("eval")
def eval_cmd(
    problem: str = typer.Option("tsp", "--problem", "-p", help="Problem name or path."),
    file: Path = typer.Argument(..., help="Python file defining the problem's entry function."),
    split: str = typer.Option("test", help="train, test, or one instance-set name."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
    sandbox: str = typer.Option("auto", help="auto, bwrap, docker or process."),
) -> None:
    """Score your own heuristic file exactly as candidates are scored."""
    from discover.run import score_file

    prob, backend, results = score_file(problem, file, split, sandbox)
    if as_json:
        out = {"problem": prob.name, "sandbox": backend, "file": str(file),
               "results": {s: r.model_dump() for s, r in results.items()}}
        print(json.dumps(out, indent=2))
        return
    t = Table(title=f"{file} on {prob.name} ({prob.spec.score.unit}) · sandbox {backend}")
    for col in ("instance set", "status", "score", "time s", "error"):
        t.add_column(col)
    for s, r in results.items():
        base = "  ".join(f"{n} {_fmt(v.get(s), 2)}" for n, v in prob.spec.baselines.items() if s in v)
        t.add_row(s, r.status, _fmt(r.score, 3) + (f"  [dim]({base})[/dim]" if base else ""), f"{r.duration_s:.2f}", r.error or "")
    console.print(t)


@app.command()
def problems() -> None:
    """List the built-in problems."""
    from discover.problem import builtin_problem_names, load_problem

    t = Table(title="problems")
    for col in ("name", "kind", "entry", "score", "train", "test"):
        t.add_column(col)
    for name in builtin_problem_names():
        try:
            p = load_problem(name)
        except DiscoverError as exc:
            t.add_row(name, "[red]broken[/red]", str(exc), "", "", "")
            continue
        t.add_row(p.name, p.spec.kind, p.spec.entry.name, f"{p.spec.score.direction} {p.spec.score.unit}",
                  ", ".join(p.spec.splits.train), ", ".join(p.spec.splits.test))
    console.print(t)


@app.command()
def doctor() -> None:
    """Which LLM and sandbox backends are usable here, and why not."""
    from discover.llm import doctor as llm_doctor
    from discover.sandbox import available_backends

    t = Table(title="discover doctor")
    for col in ("component", "backend", "usable", "detail"):
        t.add_column(col)
    for row in llm_doctor():
        t.add_row("llm", row.backend, "[green]yes[/green]" if row.usable else "[red]no[/red]", row.detail)
    for name, reason in available_backends().items():
        t.add_row("sandbox", name, "[green]yes[/green]" if reason is None else "[red]no[/red]", reason or "")
    console.print(t)


problem_app = typer.Typer(no_args_is_help=True, help="Create and validate your own problems.")
app.add_typer(problem_app, name="problem")


@problem_app.command("new")
def problem_new(
    name: str = typer.Argument(..., help="Folder name for the new problem."),
    parent: Path = typer.Option(Path("problems"), "--dir", help="Where to create it."),
) -> None:
    """Scaffold problems/NAME/ (problem.toml, evaluate.py, seed.py, data/) with a working example."""
    from discover.scaffold import new_problem

    root = new_problem(name, parent)
    console.print(f"Created {root}. Edit it, then: discover problem check {root}")


@problem_app.command("check")
def problem_check(
    problem: str = typer.Argument(..., help="Problem name or path."),
    sandbox: str = typer.Option("auto", help="Sandbox that runs the seed: auto, bwrap, docker or process."),
) -> None:
    """Validate a problem folder: schema, seed runs in the sandbox, evaluator deterministic. Explains every error."""
    from discover.evaluation import requests_for
    from discover.sandbox import open_sandbox
    from discover.scaffold import check_problem

    with open_sandbox(sandbox) as sb:
        def in_sandbox(prob: Any, code: str, instance_set: str) -> dict:
            r = sb.evaluate(requests_for(prob, code, [instance_set])[0])
            if r.status != "ok":
                raise RuntimeError(f"{r.status} in the sandbox ({sb.backend}): {r.error}")
            return {"instances": r.instances, "score": r.score}

        results = check_problem(problem, evaluate_fn=in_sandbox)
    for r in results:
        console.print(("[green]ok  [/green] " if r.ok else "[red]FAIL[/red] ") + f"{r.name}: {r.message}", highlight=False)
    failed = [r for r in results if not r.ok]
    if failed:
        raise DiscoverError(f"{len(failed)} check(s) failed for {problem}")
    console.print(f"{problem}: all {len(results)} checks passed")


def _register_extensions() -> None:
    from discover.prompting.commands import register as register_prompt

    register_prompt(app)
    from discover.review.commands import register as register_review

    register_review(app)
    from discover.web.commands import register as register_web

    register_web(app)


_register_extensions()


def _show_warning(message, category, filename, lineno, file=None, line=None) -> None:  # noqa: ANN001
    """Our own warnings (e.g. the unisolated 'process' sandbox) as one readable line; others as usual."""
    if issubclass(category, RuntimeWarning) and "/discover/" in str(filename).replace("\\", "/"):
        err_console.print(f"[yellow]warning:[/yellow] {message}", highlight=False)
    else:
        _default_showwarning(message, category, filename, lineno, file, line)


_default_showwarning = warnings.showwarning


def _stop_on_signal(signum: int, frame: Any) -> None:
    # Cancelling can catch litellm between creating a provider call's coroutine and awaiting it; Python then warns
    # "coroutine ... was never awaited" at exit, which says nothing to someone who pressed Ctrl-C.
    warnings.filterwarnings("ignore", message=r"coroutine .* was never awaited", category=RuntimeWarning)
    if not request_stop(signum):  # no job running (or a second signal): stop where we are
        raise KeyboardInterrupt(signal_reason(signum))


def main() -> None:
    warnings.showwarning = _show_warning
    # SIGTERM (kill, CI timeouts, docker stop) stops a run as cleanly as Ctrl-C; and Ctrl-C works even where the
    # shell started us with SIGINT ignored (background jobs of a non-interactive shell).
    signal.signal(signal.SIGTERM, _stop_on_signal)
    signal.signal(signal.SIGINT, _stop_on_signal)
    try:
        app(standalone_mode=False)
    except DiscoverError as exc:
        err_console.print(f"[red]error:[/red] {exc.message}", highlight=False)
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        err_console.print("interrupted")
        sys.exit(130)
    except Exception as exc:  # usage errors etc.
        # Matched by class name: typer may raise its vendored copy of click's exceptions, not click's own.
        kinds = {cls.__name__ for cls in type(exc).__mro__}
        if "ClickException" in kinds:
            exc.show()  # type: ignore[attr-defined]
            sys.exit(exc.exit_code)  # type: ignore[attr-defined]
        if "Abort" in kinds:
            sys.exit(130)
        raise
