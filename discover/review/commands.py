"""Review commands: leaderboard, runs, show, lineage, export, report. Wired in by the CLI with
`from discover.review.commands import register; register(app)`. Stored text (thoughts, feedback, errors) is printed
with rich markup escaped; --json prints plain JSON with a `schema` field."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Optional

import typer
from rich import box
from rich.markup import escape
from rich.panel import Panel
from rich.syntax import Syntax
from rich.table import Table
from rich.text import Text
from rich.tree import Tree

from discover.console import console, err_console
from discover.errors import ConfigError, DiscoverError
from discover.review.scores import fmt
from discover.store import Store, default_runs_dir

if TYPE_CHECKING:
    from discover.review.leaderboard import Leaderboard

SHORT = 8  # candidate ids shown in tables; any unique prefix works as an argument
INSTANCES_SHOWN = 10
KIND_LABEL = {"seed": "seed", "baseline": "base", "reference": "ref"}  # the rank column of unranked rows
STATUS_STYLE = {"running": "cyan", "finished": "green", "stopped": "yellow", "crashed": "red"}

RunsDir = typer.Option(None, "--runs-dir", envvar="DISCOVER_RUNS_DIR", help="Where runs are stored (default ./runs).")


def _store(runs_dir: Path | None) -> Store:
    """The existing store; StoreError (one line) if there is none or it is unreadable. Never creates one."""
    return Store(runs_dir if runs_dir is not None else default_runs_dir(), create=False, readonly=True)


def _store_with_runs(runs_dir: Path | None) -> Store | None:
    """For listing commands: None (and a friendly line) when there is nothing to list."""
    where = runs_dir if runs_dir is not None else default_runs_dir()
    store = _store(where) if (where / "discover.db").exists() else None
    if store is None or not store.list_runs():
        err_console.print(f"no runs in {where} (start one with `discover evolve`, or pass --runs-dir)", highlight=False)
        return None
    return store


# -- leaderboard -------------------------------------------------------------------------------------------
def leaderboard(
    problem: Optional[str] = typer.Option(None, "--problem", "-p", help="Only this problem (name, e.g. tsp or prompt:TASK)."),
    split: str = typer.Option("test", help="Rank on: test, train, or one instance-set name."),
    limit: int = typer.Option(20, min=1, help="Candidates shown per problem (baselines are always shown)."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON (schema discover.leaderboard/1)."),
    runs_dir: Optional[Path] = RunsDir,
) -> None:
    """Best candidates across all runs, ranked on held-out scores, with the seed and baselines as rows.

    One table per problem unless --problem picks one. Ranked on the mean over the split's instance sets; candidates
    without a score on all of them follow, by train score; ties go to the better train score, then the earlier find.
    Code found more than once is listed once."""
    from discover.review.leaderboard import build_leaderboards, leaderboards_json

    store = _store_with_runs(runs_dir)
    boards = build_leaderboards(store, problem=problem, split=split, limit=limit) if store else []
    if as_json:
        print(json.dumps(leaderboards_json(boards, str(store.runs_dir if store else runs_dir or default_runs_dir())), indent=2))
        return
    for i, b in enumerate(boards):
        if i:
            console.print()
        console.print(_leaderboard_table(b, console.width))
        if b.note:
            err_console.print(f"[yellow]note:[/yellow] {escape(b.note)}")


def _leaderboard_table(b: Leaderboard, width: int) -> Table:
    better = "lower" if b.direction == "minimize" else "higher"
    unit = f"{b.unit}, " if b.unit else ""
    train_col = b.split != "train"  # with --split train the set columns already are the train scores
    numbers = [*b.instance_sets, *(["mean"] if len(b.instance_sets) > 1 else []), *(["train"] if train_col else [])]
    columns: dict[str, list[str]] = {"#": [], "candidate": [], **{n: [] for n in numbers},
                                     "run": [], "model": [], "strategy": [], "gen": [], "LLM $": [], "lines/chars": []}
    for r in b.rows:
        candidate = r.kind == "candidate"
        columns["#"].append(str(r.rank) if r.rank else KIND_LABEL[r.kind])
        columns["candidate"].append(escape(r.candidate_id[:SHORT] if r.candidate_id else r.name))
        for s in b.instance_sets:
            v, status = r.scores.get(s), r.statuses.get(s, "missing")
            columns[s].append(fmt(v) if v is not None else ("" if status == "missing" else f"[red]{escape(status)}[/red]"))
        if "mean" in columns:
            columns["mean"].append(fmt(r.score))
        if train_col:
            columns["train"].append(fmt(r.train_score))
        columns["run"].append(escape(r.run_id or ""))
        columns["model"].append(escape(r.model or "") if candidate else "")
        columns["strategy"].append(escape(r.strategy or "") if candidate else "")
        columns["gen"].append("" if r.generation is None else str(r.generation))
        columns["LLM $"].append("" if r.llm_cost_usd is None else f"{r.llm_cost_usd:.4f}")
        columns["lines/chars"].append("" if r.code_lines is None else f"{r.code_lines}/{r.code_chars}")
    return _fitted_table(f"{escape(b.problem)} · {b.split} ({escape(unit)}{better} is better)", columns,
                         drop=("strategy", "model", "lines/chars", "LLM $", "gen", "run"), width=width,
                         left=("candidate", "run", "model", "strategy"),
                         row_styles=[None if r.kind == "candidate" else "dim" for r in b.rows],
                         caption="ranked on the mean over the sets; rows without all of them follow, by train score")


def _fitted_table(title: str, columns: dict[str, list[str]], *, drop: tuple[str, ...], width: int,
                  left: tuple[str, ...], row_styles: list[str | None] | None = None, caption: str | None = None,
                  flexible: str | None = None, flexible_min: int = 24) -> Table:
    """A compact table whose cells never wrap (numbers and ids stay whole): when it is wider than the terminal,
    the columns in `drop` are left out in that order. Only the `flexible` column (free text) wraps."""
    size = {name: max(Text.from_markup(c).cell_len for c in [name, *cells]) + 2 for name, cells in columns.items()}
    if flexible in size:
        size[flexible] = min(size[flexible], flexible_min)
    columns = dict(columns)
    for name in drop:
        if sum(size.values()) <= width:
            break
        columns.pop(name, None)
        size.pop(name, None)
    t = Table(title=title, box=box.SIMPLE_HEAD, padding=(0, 1, 0, 0), pad_edge=False, show_edge=False, title_justify="left",
              caption=caption, caption_justify="left")
    for name in columns:
        t.add_column(escape(name), justify="left" if name in left or name == flexible else "right",
                     no_wrap=name != flexible, overflow="fold" if name == flexible else "ellipsis")
    n = len(next(iter(columns.values()), []))
    for i in range(n):
        t.add_row(*(cells[i] for cells in columns.values()), style=row_styles[i] if row_styles else None)
    return t


# -- runs ----------------------------------------------------------------------------------------------------
def runs(
    as_json: bool = typer.Option(False, "--json", help="Print JSON (schema discover.runs/1)."),
    runs_dir: Optional[Path] = RunsDir,
) -> None:
    """All runs, oldest first: status, budget used, best scores, why they stopped."""
    from discover.review.runs import overviews, runs_json

    store = _store_with_runs(runs_dir)
    rows = overviews(store) if store else []
    if as_json:
        print(json.dumps(runs_json(rows, str(store.runs_dir if store else runs_dir or default_runs_dir())), indent=2))
        return
    if not rows:
        return
    def status(r) -> str:
        style = STATUS_STYLE.get(r.status)
        return f"[{style}]{r.status}[/{style}]" if style else escape(r.status)

    columns = {
        "run": [r.id for r in rows], "status": [status(r) for r in rows], "problem": [escape(r.problem) for r in rows],
        "model": [escape(r.model) for r in rows], "strategy": [escape(r.strategy) for r in rows],
        "gens": [str(r.generations) for r in rows],
        "candidates": [f"{r.candidates} ({r.valid} valid)" for r in rows], "LLM calls": [str(r.llm_calls) for r in rows],
        "tokens": [f"{r.prompt_tokens + r.completion_tokens:,}" for r in rows], "cost $": [f"{r.cost_usd:.4f}" for r in rows],
        "best train": [fmt(r.best_train) for r in rows], "best test": [fmt(r.best_test) for r in rows],
        "stop reason": [escape(r.stop_reason or "") for r in rows],
    }
    console.print(_fitted_table(f"runs in {escape(str(store.runs_dir))}", columns, width=console.width,
                                drop=("tokens", "strategy", "gens", "candidates", "model", "cost $", "stop reason"),
                                left=("run", "status", "problem", "model", "strategy"), flexible="stop reason"))


# -- show ------------------------------------------------------------------------------------------------------
def show(
    candidate_id: str = typer.Argument(..., metavar="ID", help="Candidate id or a unique prefix."),
    diff: bool = typer.Option(False, "--diff", help="Also the unified diff against its first parent."),
    all_instances: bool = typer.Option(False, "--all", help=f"Every per-instance score (default: the first {INSTANCES_SHOWN} per set)."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON (schema discover.show/1): everything, every instance."),
    runs_dir: Optional[Path] = RunsDir,
) -> None:
    """One candidate: code, thought, operator, parents, status, scores per instance set and instance, feedback."""
    from discover.review.inspect import detail, diff_to_parent

    store = _store(runs_dir)
    if as_json:
        from discover.web.data import candidate_view

        view = candidate_view(store, candidate_id)
        view.pop("code_tokens", None)  # highlighting runs for the web page only
        print(json.dumps({**view, "schema": "discover.show/1"}, indent=2, default=str))
        return
    d = detail(store, candidate_id)
    c, info = d.candidate, d.info
    state = c.status + ("" if c.status != "evaluated" else (" · valid" if c.valid else " · not valid"))
    console.print(f"[bold]candidate {c.id}[/bold] · run {d.run.id} · {escape(d.run.problem)} · {escape(d.run.model)}",
                  highlight=False)
    console.print(f"operator {escape(c.operator)} · {escape(info.target.step_word)} {c.generation} · "
                  f"parents {', '.join(c.parent_ids) or 'none'} · "
                  f"{escape(state)}" + (f" · [red]{escape(c.reject_reason)}[/red]" if c.reject_reason else ""), highlight=False)
    meta = getattr(c, "meta", None)
    if meta:
        console.print(Text("meta: ", style="bold") + Text(json.dumps(meta, default=str)))
    console.print(f"train {fmt(d.train_mean)} · test {fmt(d.test_mean)} ({escape(info.direction)} {escape(info.unit)})",
                  highlight=False)
    if c.thought:
        console.print(Text("Thought: ", style="bold") + Text(c.thought))
    if info.target.language == "text":
        label = info.target.text_label
        console.print(Panel(Text(c.code or f"(empty {label})"), title=label, title_align="left"))
    else:
        console.print(Syntax(c.code, "python", line_numbers=True, word_wrap=True))
    if d.evaluations:
        t = Table(title="evaluations", title_justify="left", box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False)
        for col in ("split", "instance set", "status", "score", "instances", "time s", "error"):
            t.add_column(col, justify="right" if col in ("score", "instances", "time s") else "left")
        for e in d.evaluations:
            t.add_row(e.split, escape(e.instance_set), e.status if e.status == "ok" else f"[red]{escape(e.status)}[/red]",
                      fmt(e.score), str(len(e.instances)), "" if e.duration_s is None else f"{e.duration_s:.2f}",
                      escape(e.error or ""))
        console.print(t)
        for e in d.evaluations:
            if e.instances:
                console.print(_instances_table(e, all_instances))
    if d.feedback:
        console.print(Panel(Text(d.feedback), title="feedback it received", title_align="left"))
    if diff:
        text = diff_to_parent(store, c)
        if text is None:
            console.print("no parent to diff against", style="dim")
        elif not text:
            console.print("same code as its first parent", style="dim")
        else:
            console.print(Syntax(text, "diff"))


def _instances_table(e, all_instances: bool) -> Table:
    items = list(e.instances.items())
    shown = items if all_instances else items[:INSTANCES_SHOWN]
    metrics = list(dict.fromkeys(k for _, m in shown if isinstance(m, dict) for k in m))
    metrics = ["score", *(k for k in metrics if k != "score")]
    more = len(items) - len(shown)
    console.print(f"[bold]{e.split} / {escape(e.instance_set)}[/bold] per instance"
                  + (f" (first {len(shown)} of {len(items)}; --all shows every one)" if more else ""), highlight=False)
    t = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False)
    t.add_column("instance")
    rows = [(name, m if isinstance(m, dict) else {"score": m}) for name, m in shown]
    for k in metrics:
        numeric = all(isinstance(m.get(k), (int, float)) or m.get(k) is None for _, m in rows)
        t.add_column(escape(k), justify="right" if numeric else "left", max_width=40, overflow="ellipsis")
    for name, m in rows:
        t.add_row(escape(name), *(_metric(m.get(k)) for k in metrics))
    return t


def _metric(v: object) -> str:
    if isinstance(v, bool) or v is None:
        return "" if v is None else str(v)
    if isinstance(v, (int, float)):
        return fmt(v, 6)
    return escape(" ".join(str(v).split()))  # model outputs etc.: one line, markup-escaped


# -- lineage ---------------------------------------------------------------------------------------------------
def lineage(
    candidate_id: str = typer.Argument(..., metavar="ID", help="Candidate id or a unique prefix."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON (schema discover.lineage/1)."),
    runs_dir: Optional[Path] = RunsDir,
) -> None:
    """Ancestry of a candidate: parents (two for crossover), their parents, ... with operators and scores."""
    from discover.review.inspect import lineage as build

    root = build(_store(runs_dir), candidate_id)
    if as_json:
        print(json.dumps({"schema": "discover.lineage/1", "root": _lineage_json(root)}, indent=2))
        return

    def label(n) -> str:
        if n.candidate is None:
            return f"{n.id} [dim](not in the store)[/dim]"
        c = n.candidate
        text = (f"[bold]{c.id}[/bold] {escape(c.operator)} · gen {c.generation} · train {fmt(c.train_score)}"
                + (f" · test {fmt(n.test_mean)}" if n.test_mean is not None else ""))
        if c.thought:
            thought = " ".join(c.thought.split())
            text += f" · [dim]{escape(thought[:80] + ('…' if len(thought) > 80 else ''))}[/dim]"
        return text + (" [dim](shown above)[/dim]" if n.repeated else "")

    def grow(tree: Tree, n) -> None:
        for p in n.parents:
            grow(tree.add(label(p)), p)

    tree = Tree(label(root))
    grow(tree, root)
    console.print(tree, highlight=False)


def _lineage_json(n) -> dict:
    c = n.candidate
    if c is None:
        return {"id": n.id, "missing": True, "parents": []}
    return {"id": c.id, "missing": False, "operator": c.operator, "generation": c.generation, "status": c.status,
            "valid": bool(c.valid), "train_score": c.train_score, "test_score": n.test_mean, "thought": c.thought,
            "repeated": n.repeated, "parents": [_lineage_json(p) for p in n.parents]}


# -- export ------------------------------------------------------------------------------------------------------
def export(
    candidate_id: Optional[str] = typer.Argument(None, metavar="ID", help="Candidate id or a unique prefix."),
    best: bool = typer.Option(False, "--best", help="The best candidate (valid, not suspicious, best train score, "
                              "earliest on ties) over the problem's runs, instead of an ID."),
    problem: Optional[str] = typer.Option(None, "--problem", "-p", help="With --best: which problem (needed if several)."),
    run: Optional[str] = typer.Option(None, "--run", help="With --best: only this run (id or prefix)."),
    output: Optional[Path] = typer.Option(None, "--output", "-o", help="File to write (default: print it)."),
    runs_dir: Optional[Path] = RunsDir,
) -> None:
    """Write a candidate as a standalone, importable Python file with a header saying where it came from."""
    from discover.review.export import export_text
    from discover.review.inspect import detail

    if (candidate_id is None) == (not best):
        raise ConfigError("give a candidate ID or --best (not both)")
    store = _store(runs_dir)
    if best:
        candidate_id = _best_id(store, problem, run)
    d = detail(store, candidate_id)  # type: ignore[arg-type]
    text = export_text(d)
    if output is None:
        print(text, end="")
        return
    try:
        output.write_text(text)
    except OSError as exc:
        raise DiscoverError(f"cannot write {output}: {exc.strerror}", path=str(output)) from exc
    err_console.print(f"wrote {output} (candidate {d.candidate.id}, {escape(d.run.problem)}, train {fmt(d.train_mean)}, "
                      f"test {fmt(d.test_mean)})", highlight=False, soft_wrap=True)


def _best_id(store: Store, problem: str | None, run: str | None) -> str:
    """The same "best" as the run summary and `discover runs` (discover.review.best), over one run or every run of
    one problem (train scores of one problem are comparable across its runs)."""
    from discover.review.best import best_candidate
    from discover.review.leaderboard import group_runs
    from discover.review.problem_info import problem_info

    if run is not None:
        runs = [store.get_run(run)]
    else:
        groups = group_runs(store, problem)
        if len(groups) > 1:
            raise ConfigError(f"runs of several problems ({', '.join(groups)}): pass --problem or --run")
        runs = next(iter(groups.values()), [])
    if not runs:
        raise DiscoverError(f"no runs in {store.runs_dir}")
    info = problem_info(store, runs[-1])
    top = best_candidate([c for r in runs for c in store.candidates(r.id)], minimize=info.minimize)
    if top is None:
        raise DiscoverError(f"no valid candidate for {problem or runs[-1].problem} in {store.runs_dir}")
    return top.id


# -- report --------------------------------------------------------------------------------------------------------
def report(
    run_id: str = typer.Argument(..., metavar="RUN_ID", help="Run id or a unique prefix."),
    output: Optional[Path] = typer.Option(None, "--output", "-o", help="HTML file (default: RUNS_DIR/report-RUN_ID.html)."),
    open_: bool = typer.Option(False, "--open", help="Open it in the default browser."),
    runs_dir: Optional[Path] = RunsDir,
) -> None:
    """Write one self-contained HTML report of a run (works offline).

    The same views as `discover serve`: every candidate's train score (coloured by outcome, baselines as lines), the
    whole lineage tree, and per candidate its code, diff to each parent, thought, feedback, prompt and raw response,
    per-instance scores and cost; the run's leaderboard, LLM usage and configuration."""
    from discover.review.report import write_report

    path = write_report(_store(runs_dir), run_id, output)
    console.print(f"wrote {path}", highlight=False, soft_wrap=True)  # a path stays on one line, copy-pasteable
    if open_:
        import webbrowser

        webbrowser.open(path.resolve().as_uri())


def register(app: typer.Typer) -> None:
    """Adds the review commands to the CLI app."""
    for name, fn in (("leaderboard", leaderboard), ("runs", runs), ("show", show), ("lineage", lineage),
                     ("export", export), ("report", report)):
        app.command(name)(fn)
