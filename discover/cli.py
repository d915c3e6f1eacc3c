"""Command line: thin wrappers over the library. Errors become one line and an exit code."""

from __future__ import annotations

import json
import signal
import sys
import warnings
from pathlib import Path
from typing import Any, Optional

import typer
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from discover.console import console, err_console
from discover.errors import DiscoverError
from discover.interrupt import request_stop, signal_reason

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="Discover algorithms and prompts with LLMs: evolve, evaluate in a sandbox, review.")


def _fmt(x: float | None, digits: int = 3) -> str:
    return "—" if x is None else f"{x:.{digits}f}"


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


def _results_rows(summary: Any) -> list[tuple[str, dict[str, float | None]]]:
    rows = []
    if summary.best is not None and summary.best.id in summary.test_scores:
        rows.append((f"best {summary.best.id} (train {_fmt(summary.best.train_score)})", summary.test_scores[summary.best.id]))
    seed = summary.seed_id
    if seed and seed in summary.test_scores and (summary.best is None or seed != summary.best.id):
        rows.append((f"seed {seed}", summary.test_scores[seed]))
    return rows


def run_with_progress(start: Any, progress: str) -> Any:
    """Run `start(subscribers)` with the live display (discover.progress) subscribed; off a terminal it logs lines."""
    from discover.progress import watch

    with watch(console, mode=progress) as show:
        return start((show,))


@app.command()
def evolve(
    problem: Optional[str] = typer.Option(None, "--problem", "-p", help="Problem name or folder (code, or kind = \"prompt\"); default tsp."),
    strategy: Optional[str] = typer.Option(None, help="eoh (default) or opro."),
    model: Optional[str] = typer.Option(None, help="litellm model string, or local/qwen2.5-coder-0.5b (default)."),
    api_base: Optional[str] = typer.Option(None, help="Base URL of an OpenAI-compatible server."),
    generations: Optional[int] = typer.Option(None, help="Number of generations (x population = the most proposals)."),
    population: Optional[int] = typer.Option(None, help="Population size (candidates per generation)."),
    schedule: Optional[str] = typer.Option(None, help="steady (default: N proposals always in flight) or generational."),
    max_llm_calls: Optional[int] = typer.Option(None, help="Stop after this many paid LLM calls."),
    max_cost_usd: Optional[float] = typer.Option(None, help="Stop when LLM cost reaches this."),
    timeout: Optional[float] = typer.Option(None, help="Wall-clock limit of the search in seconds (a hard bound)."),
    test_timeout: Optional[float] = typer.Option(None, help="Wall-clock limit of the held-out scoring after it."),
    seed: Optional[int] = typer.Option(None, help="Seed for the non-LLM randomness."),
    sandbox: Optional[str] = typer.Option(None, help="auto, bwrap, docker or process."),
    workers: Optional[int] = typer.Option(None, help="Parallel sandbox workers (default: cores)."),
    llm_concurrency: Optional[int] = typer.Option(None, help="Proposals in flight (concurrent LLM calls)."),
    no_repair: bool = typer.Option(False, "--no-repair", help="Do not ask the LLM to repair failing candidates."),
    executor: Optional[str] = typer.Option(None, help="Where evaluations run: local (default) or ray."),
    ray_address: Optional[str] = typer.Option(None, help="Ray cluster for --executor ray: auto or ray://host:10001."),
    archive: Optional[str] = typer.Option(None, help="ranked (default), pareto, islands or map-elites."),
    tune_budget: Optional[int] = typer.Option(None, help="Evaluations per numeric tuning (0: off; default: the problem's)."),
    temperature: Optional[float] = typer.Option(None, help="Sampling temperature (default: the target's, 0.8 for code)."),
    max_tokens: Optional[int] = typer.Option(None, help="Most tokens per answer (default: the target's, 700 for code)."),
    llm_timeout: Optional[float] = typer.Option(None, help="Seconds per LLM call before it is retried (default 180)."),
    takeover: bool = typer.Option(False, "--takeover", help="Resume a run whose recorded owner is dead on another host."),
    config: Optional[Path] = typer.Option(None, "--config", help="TOML or YAML file with any run setting."),
    resume: Optional[str] = typer.Option(None, help="Continue a stopped or crashed run (id or prefix)."),
    progress: str = typer.Option("auto", help="auto, terminal, plain, json or quiet."),
    runs_dir: Optional[Path] = typer.Option(None, envvar="DISCOVER_RUNS_DIR", help="Where runs are stored (default ./runs)."),
) -> None:
    """Evolve heuristics (or prompts, for a prompt problem folder) with an LLM, scored in a sandbox."""
    from discover.config import build_config
    from discover.engine import run_sync
    from discover.store import Store

    flags = dict(problem=problem, strategy=strategy, model=model, api_base=api_base, generations=generations,
                 population=population, schedule=schedule, max_llm_calls=max_llm_calls, max_cost_usd=max_cost_usd,
                 timeout_s=timeout, test_timeout_s=test_timeout, seed=seed, sandbox=sandbox, workers=workers,
                 llm_concurrency=llm_concurrency, repair=False if no_repair else None, executor=executor,
                 ray_address=ray_address, archive=archive, tune_budget=tune_budget, temperature=temperature,
                 max_tokens=max_tokens, llm_timeout_s=llm_timeout)
    given = {k: v for k, v in flags.items() if v is not None}
    cfg = build_config(config, **given)  # only given flags override the file
    summary = run_with_progress(lambda subs: run_sync(cfg, runs_dir=runs_dir, resume=resume,
                                                      overrides=given if resume else None, subscribers=subs,
                                                      takeover=takeover), progress)
    store = Store(runs_dir)
    console.print(f"Stopped: {summary.stop_reason}.")
    rows = _results_rows(summary)
    from discover.targets.info import target_info

    info = target_info(summary.kind)
    if rows and info.problem_folder:
        from discover.problem import load_problem

        console.print(_results_table(load_problem(store.get_run(summary.run_id).problem_dir), rows, "Held-out test scores"))
    elif rows:
        t = Table(title=f"Held-out test scores ({summary.problem})")
        t.add_column("candidate")
        t.add_column("test", justify="right")
        for name, scores in rows:
            t.add_row(name, _fmt(next(iter(scores.values()), None)))
        console.print(t)
    if summary.best is not None:
        console.print(f"Best thought: {summary.best.thought}" if summary.best.thought
                      else f"Best {info.text_label}: {summary.best.code or '(empty)'}")
    s = summary.stats
    console.print(f"{s.llm_calls} paid LLM calls, {s.cached_calls} cached, {s.repairs} repairs, ${s.cost_usd:.4f}, "
                  f"{s.elapsed_s:.0f} s")
    console.print(f"Run {summary.run_id} stored in {store.path}  ·  inspect: discover show {summary.best.id if summary.best else summary.run_id}")


@app.command("eval")
def eval_cmd(
    problem: str = typer.Option("tsp", "--problem", "-p", help="Problem name or path."),
    file: Path = typer.Argument(..., help="Python file defining the problem's entry function."),
    split: str = typer.Option("test", help="train, test, or one instance-set name."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON (schema discover.eval/1)."),
    sandbox: str = typer.Option("auto", help="auto, bwrap, docker or process."),
) -> None:
    """Score your own heuristic file exactly as candidates are scored."""
    from discover.run import score_file

    prob, backend, results = score_file(problem, file, split, sandbox)
    if as_json:
        out = {"schema": "discover.eval/1", "problem": prob.name, "sandbox": backend, "file": str(file),
               "results": {s: r.model_dump() for s, r in results.items()}}
        print(json.dumps(out, indent=2))
        return
    t = Table(title=f"{file} on {prob.name} ({prob.spec.score.unit}) · sandbox {backend}")
    for col in ("instance set", "status", "score", "time s", "error"):
        t.add_column(col)
    for s, r in results.items():
        base = "  ".join(f"{n} {_fmt(v.get(s), 2)}" for n, v in prob.spec.baselines.items() if s in v)
        t.add_row(Text(s), r.status, _fmt(r.score, 3) + (f"  [dim]({escape(base)})[/dim]" if base else ""), f"{r.duration_s:.2f}",
                  Text(r.error or ""))
    console.print(t)


@app.command()
def problems(as_json: bool = typer.Option(False, "--json", help="Print JSON (schema discover.problems/1).")) -> None:
    """List the built-in problems."""
    from discover.problem import builtin_problem_names, load_problem

    if as_json:
        rows = []
        for name in builtin_problem_names():
            try:
                p = load_problem(name)
            except DiscoverError as exc:
                rows.append({"name": name, "error": exc.message})
                continue
            rows.append({"name": p.name, "kind": p.spec.kind, "entry": p.spec.entry.name,
                         "direction": p.spec.score.direction, "unit": p.spec.score.unit,
                         "train": list(p.spec.splits.train), "test": list(p.spec.splits.test), "error": None})
        print(json.dumps({"schema": "discover.problems/1", "problems": rows}, indent=2))
        return
    t = Table(title="problems")
    for col in ("name", "kind", "entry", "score", "train", "test"):
        t.add_column(col)
    for name in builtin_problem_names():
        try:
            p = load_problem(name)
        except DiscoverError as exc:
            t.add_row(Text(name), "[red]broken[/red]", Text(str(exc)), "", "", "")
            continue
        t.add_row(Text(p.name), p.spec.kind, Text(p.spec.entry.name), Text(f"{p.spec.score.direction} {p.spec.score.unit}"),
                  Text(", ".join(p.spec.splits.train)), Text(", ".join(p.spec.splits.test)))
    console.print(t)


@app.command()
def doctor(as_json: bool = typer.Option(False, "--json", help="Print JSON (schema discover.doctor/1)."),
           ray_address: Optional[str] = typer.Option(None, help="Also describe this Ray cluster (auto or "
                                                                "ray://host:10001): nodes, CPUs, GPUs.")) -> None:
    """Which LLM and sandbox backends are usable here, and why not."""
    from discover.llm import doctor as llm_doctor
    from discover.sandbox import doctor_rows

    rows = [("llm", row.backend, bool(row.usable), row.detail or "") for row in llm_doctor()]
    rows += doctor_rows()
    if ray_address:  # probing every node takes seconds: only when a cluster is named
        from discover.executors.ray import cluster_summary

        rows += cluster_summary(ray_address, "auto")
    if as_json:
        print(json.dumps({"schema": "discover.doctor/1", "checks": [
            {"component": c, "backend": b, "usable": u, "detail": d} for c, b, u, d in rows]}, indent=2))
        return
    t = Table(title="discover doctor")
    for col in ("component", "backend", "usable", "detail"):
        t.add_column(col)
    for component, backend, usable, detail in rows:
        t.add_row(component, Text(backend), "[green]yes[/green]" if usable else "[red]no[/red]", Text(detail))
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
    console.print(f"Created {root}. Edit it, then: discover problem check {root}", markup=False, highlight=False,
                  soft_wrap=True)


@problem_app.command("check")
def problem_check(
    problem: str = typer.Argument(..., help="Problem name or path."),
    sandbox: str = typer.Option("auto", help="Sandbox that runs the seed: auto, bwrap, docker or process."),
) -> None:
    """Validate a problem folder: schema, seed runs in the sandbox, evaluator deterministic. Explains every error."""
    import asyncio
    from contextlib import ExitStack

    from discover.config import RunConfig
    from discover.scaffold import check_problem
    from discover.targets.code import open_code_evaluator

    with ExitStack() as stack:
        opened: dict[str, Any] = {}

        def in_sandbox(prob: Any, code: str, instance_set: str) -> dict:
            # opened on first use: a folder whose schema is broken is reported by check_problem, not here
            if "ev" not in opened:
                config = RunConfig(problem=str(prob.root), sandbox=sandbox, workers=1)
                opened["ev"] = stack.enter_context(open_code_evaluator(prob, config))
            ev = opened["ev"]
            r = asyncio.run(ev.evaluate(code, [instance_set]))[0]
            if r.status != "ok":
                raise RuntimeError(f"{r.status} in the sandbox ({ev.backend}): {r.error}")
            return {"instances": r.instances, "score": r.score}

        results = check_problem(problem, evaluate_fn=in_sandbox)
    for r in results:
        # the name and message carry user text (instance-set names, evaluator errors): no markup, no emoji codes
        console.print(Text("ok   ", style="green") if r.ok else Text("FAIL ", style="red"), Text(f"{r.name}: {r.message}"),
                      sep="", highlight=False)
    failed = [r for r in results if not r.ok]
    if failed:
        raise DiscoverError(f"{len(failed)} check(s) failed for {problem}")
    console.print(f"{problem}: all {len(results)} checks passed", markup=False, highlight=False)


def _print_version(value: bool) -> None:
    if value:
        from discover import __version__

        print(f"discover {__version__}")
        raise typer.Exit()


@app.callback()
def _main_options(
    version: bool = typer.Option(False, "--version", callback=_print_version, is_eager=True,
                                 help="Print the version and exit."),
) -> None:
    """Discover algorithms and prompts with LLMs: evolve, evaluate in a sandbox, review."""


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
        err_console.print(f"[yellow]warning:[/yellow] {message}", highlight=False, soft_wrap=True)  # one line
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
        err_console.print(f"[red]error:[/red] {exc.message}", highlight=False, soft_wrap=True)  # one line, never wrapped
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
