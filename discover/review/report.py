"""`discover report`: one self-contained HTML file for a run (inline CSS and SVG, one tiny inline script that
surfaces script errors; no network). Every piece of LLM-produced text (code, thoughts, feedback, instructions)
and every stored string goes through html.escape; a Content-Security-Policy admits only our own script."""

from __future__ import annotations

import base64
import bisect
import hashlib
import json
import time
from dataclasses import dataclass
from html import escape
from pathlib import Path

from discover.errors import DiscoverError
from discover.review.inspect import LineageNode, lineage
from discover.review.leaderboard import Leaderboard, LeaderboardRow, build_leaderboard, group_runs
from discover.review.problem_info import ProblemInfo, problem_info
from discover.review.runs import RunOverview, overview
from discover.review.scores import fmt
from discover.review.svg import HLine, Series, line_chart, stacked_bars
from discover.store import CandidateRow, RunRow, Store

# outcome categories per generation, bottom of the bar up
OUTCOMES = [("valid", "#16a34a"), ("screened out", "#a3a3a3"), ("invalid", "#f59e0b"), ("timeout", "#8b5cf6"),
            ("error", "#dc2626"), ("rejected", "#6b7280"), ("duplicate", "#cbd5e1"), ("pending", "#e5e7eb")]
FAILURE_CATEGORY = {"invalid": "invalid", "timeout": "timeout"}  # any other failed status counts as "error"
BASELINE_COLORS = ["#0ea5e9", "#f97316", "#a855f7", "#14b8a6", "#e11d48", "#65a30d"]
ERROR_HOOK = ("(function(){var box=document.getElementById('js-errors');function note(m){box.hidden=false;"
              "var li=document.createElement('li');li.textContent=String(m);box.querySelector('ul').appendChild(li);}"
              "window.addEventListener('error',function(e){note(e.message||'error');});"
              "var ce=console.error;console.error=function(){note([].slice.call(arguments).join(' '));"
              "return ce.apply(console,arguments);};})();")


@dataclass
class ReportData:
    run: RunRow
    info: ProblemInfo
    overview: RunOverview
    candidates: list[CandidateRow]
    outcomes: dict[str, str]            # candidate id -> outcome category
    calls_before: dict[str, int]        # candidate id -> paid LLM calls made by the time it was proposed
    cached_calls: int
    failed_calls: int
    board: Leaderboard
    best: CandidateRow | None           # best on test where scored, else on train
    best_feedback: str | None
    lineage: LineageNode | None


def outcome(store: Store, c: CandidateRow) -> str:
    if c.status in ("rejected", "duplicate", "pending"):
        return c.status
    if c.valid:
        return "valid"
    failed = [e for e in store.evaluations(c.id, "train") if e.status != "ok"]
    if not failed:
        return "screened out"  # prompt runs: scored fine on the minibatch, not good enough for the full train split
    return FAILURE_CATEGORY.get(failed[0].status, "error")


def collect(store: Store, run_id: str, leaderboard_limit: int = 15) -> ReportData:
    run = store.get_run(run_id)
    info = problem_info(store, run)
    cands = store.candidates(run.id)
    calls = list(store.llm_calls(run.id))
    paid_at = sorted(r["created_at"] for r in calls if not r["cached"] and r["error"] is None)
    ov = overview(store, run)
    board = build_leaderboard(store, run.problem, group_runs(store, run_ids=[run.id])[run.problem], limit=leaderboard_limit)
    best_id = ov.best_test_id or ov.best_train_id
    best = next((c for c in cands if c.id == best_id), None)
    return ReportData(
        run=run, info=info, overview=ov, candidates=cands, outcomes={c.id: outcome(store, c) for c in cands},
        calls_before={c.id: bisect.bisect_right(paid_at, c.created_at) for c in cands},
        cached_calls=sum(1 for r in calls if r["cached"]), failed_calls=sum(1 for r in calls if r["error"] is not None),
        board=board, best=best, best_feedback=store.feedback_for(best.id) if best else None,
        lineage=lineage(store, best.id) if best else None,
    )


# -- charts ------------------------------------------------------------------------------------------------
def best_so_far(info: ProblemInfo, points: list[tuple[float, float | None]], end: float) -> list[tuple[float, float]]:
    """(x, score) -> the best score reached by each x: one point per improvement, and one at `end` (where the run
    got to, improving or not)."""
    out: list[tuple[float, float]] = []
    best = None
    for x, score in sorted(points, key=lambda p: p[0]):
        if info.better(score, best):
            best = score
            if out and out[-1][0] == x:
                out[-1] = (x, score)
            else:
                out.append((x, score))
    if out and end > out[-1][0]:
        out.append((end, out[-1][1]))
    return out


def _train_hlines(info: ProblemInfo) -> list[HLine]:
    rows = {**info.references(), **info.baselines}
    lines = []
    for i, (name, values) in enumerate(rows.items()):
        vals = [values[s] for s in info.train_sets if s in values]
        if vals and len(vals) == len(info.train_sets):
            lines.append(HLine(f"{name} (train)", sum(vals) / len(vals), BASELINE_COLORS[i % len(BASELINE_COLORS)]))
    return lines


def charts(d: ReportData) -> tuple[list[str], list[int], list[dict[str, int]], list[tuple[str, str]]]:
    """The three SVG charts, and the per-generation outcome counts behind the bar chart (also shown as a table)."""
    valid = [c for c in d.candidates if d.outcomes[c.id] == "valid"]
    y_label = f"best train score ({d.info.unit or d.info.direction})"
    hlines = _train_hlines(d.info)
    by_gen = best_so_far(d.info, [(c.generation, c.train_score) for c in valid], d.overview.generations_done or 0)
    by_calls = best_so_far(d.info, [(d.calls_before[c.id], c.train_score) for c in valid], d.overview.llm_calls)
    step = "step" if d.info.kind == "prompt" else "generation"
    gens = sorted({c.generation for c in d.candidates})
    stacks = [{name: sum(1 for c in d.candidates if c.generation == g and d.outcomes[c.id] == name) for name, _ in OUTCOMES}
              for g in gens]
    used = [(n, col) for n, col in OUTCOMES if any(s[n] for s in stacks)]
    return [
        line_chart([Series("best so far", by_gen, "#2563eb")], title=f"Best train score by {step}", x_label=step,
                   y_label=y_label, hlines=hlines, integer_x=True),
        line_chart([Series("best so far", by_calls, "#2563eb")], title="Best train score by LLM calls",
                   x_label="paid LLM calls made when proposed", y_label=y_label, hlines=hlines, integer_x=True),
        stacked_bars([str(g) for g in gens], stacks, used, title=f"Candidates per {step} by outcome", x_label=step,
                     y_label="candidates"),
    ], gens, stacks, used


# -- HTML pieces -------------------------------------------------------------------------------------------
def _table(head: list[str], rows: list[tuple[str, list[str]]], cls: str = "") -> str:
    """rows: (row class, cells). Head and cells are HTML already: callers escape."""
    h = "".join(f"<th>{c}</th>" for c in head)
    body = "".join((f'<tr class="{rc}">' if rc else "<tr>") + "".join(f"<td>{c}</td>" for c in cells) + "</tr>"
                   for rc, cells in rows)
    return f'<table class="{cls}"><thead><tr>{h}</tr></thead><tbody>{body}</tbody></table>'


def _leaderboard_html(d: ReportData) -> str:
    b = d.board
    head = ["rank", "candidate", "op", "gen"] + [escape(s) for s in b.instance_sets] + ["mean", "train", "LLM $", "size"]
    rows = []
    for r in b.rows:
        cls = "baseline" if r.kind != "candidate" else ("best" if d.best and r.candidate_id == d.best.id else "")
        name = (f"<code>{escape(r.name[:10])}</code>" + (" (seed)" if r.kind == "seed" else "")
                if r.candidate_id else escape(f"{r.name} ({r.kind})"))
        cells = [str(r.rank) if r.rank else "", name, escape(r.operator or ""), "" if r.generation is None else str(r.generation)]
        cells += [_score_cell(r, s) for s in b.instance_sets]
        cells += [fmt(r.score), fmt(r.train_score), "" if r.llm_cost_usd is None else f"{r.llm_cost_usd:.4f}",
                  "" if r.code_lines is None else f"{r.code_lines} line{'s' if r.code_lines != 1 else ''} / {r.code_chars} chars"]
        rows.append((cls, cells))
    direction = "lower" if d.info.minimize else "higher"
    caption = (f"<p class=\"muted\">Split <b>{escape(b.split)}</b>, {escape(d.info.unit or 'score')}, {direction} is better. "
               "Ranked on the mean over the split's instance sets; candidates never scored on them follow, by train score.</p>")
    return caption + _table(head, rows, "board")


def _score_cell(r: LeaderboardRow, s: str) -> str:
    v = r.scores.get(s)
    if v is not None:
        return fmt(v)
    status = r.statuses.get(s, "missing")
    return "" if status == "missing" else f'<span class="bad">{escape(status)}</span>'


def _lineage_html(n: LineageNode, info: ProblemInfo) -> str:
    if n.candidate is None:
        label = f"<code>{escape(n.id)}</code> <span class=\"muted\">(not in the store)</span>"
    else:
        c = n.candidate
        label = (f"<code>{escape(c.id)}</code> <b>{escape(c.operator)}</b> gen {c.generation} · train {fmt(c.train_score)}"
                 + (f" · test {fmt(n.test_mean)}" if n.test_mean is not None else "")
                 + (f" · <span class=\"muted\">{escape(_clip(c.thought, 90))}</span>" if c.thought else ""))
        if n.repeated:
            label += ' <span class="muted">(shown above)</span>'
    kids = "".join(_lineage_html(p, info) for p in n.parents)
    return f"<li>{label}" + (f"<ul>{kids}</ul>" if kids else "") + "</li>"


def _clip(text: str, n: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= n else text[: n - 1] + "…"


def _code_html(d: ReportData) -> tuple[str, str]:
    from pygments import highlight
    from pygments.formatters import HtmlFormatter
    from pygments.lexers import PythonLexer

    if d.best is None:
        return "<p class=\"muted\">No valid candidate.</p>", ""
    if d.info.kind == "prompt":
        return f'<pre class="instruction">{escape(d.best.code or "(empty instruction)")}</pre>', ""
    formatter = HtmlFormatter(cssclass="hl", style="friendly")
    return highlight(d.best.code, PythonLexer(), formatter), formatter.get_style_defs(".hl")


def _kv(rows: list[tuple[str, str]]) -> str:
    return "<table class=\"kv\"><tbody>" + "".join(f"<tr><th>{escape(k)}</th><td>{v}</td></tr>" for k, v in rows) + "</tbody></table>"


CSS = """
*{box-sizing:border-box}
body{margin:0;background:#f6f7f9;color:#111;font:14px/1.45 system-ui,-apple-system,'Segoe UI',Roboto,sans-serif}
main{max-width:1200px;margin:0 auto;padding:24px 28px 48px}
h1{font-size:22px;margin:0 0 4px} h2{font-size:17px;margin:28px 0 10px;border-bottom:1px solid #dde1e6;padding-bottom:4px}
.muted{color:#6b7280} .bad{color:#b91c1c}
section.card{background:#fff;border:1px solid #e3e6ea;border-radius:8px;padding:14px 16px;margin:12px 0;overflow-x:auto}
.grid{display:grid;grid-template-columns:repeat(auto-fit,minmax(420px,1fr));gap:14px;align-items:start}
.grid>div{background:#fff;border:1px solid #e3e6ea;border-radius:8px;padding:6px}
.stats{display:flex;flex-wrap:wrap;gap:10px;margin:14px 0}
.stat{background:#fff;border:1px solid #e3e6ea;border-radius:8px;padding:8px 14px;min-width:130px}
.stat b{display:block;font-size:18px} .stat span{color:#6b7280;font-size:12px}
table{border-collapse:collapse;font-size:13px;width:100%}
th,td{padding:4px 8px;border-bottom:1px solid #eef0f3;text-align:right;white-space:nowrap}
th{background:#f3f4f6;font-weight:600} table.board td:nth-child(2),table.board th:nth-child(2){text-align:left}
table.kv{width:auto} table.kv th,table.kv td{text-align:left} table.kv td{white-space:pre-wrap;word-break:break-word}
tr.baseline td{color:#6b7280;font-style:italic} tr.best td{font-weight:600;background:#eff6ff}
ul.tree,ul.tree ul{list-style:none;margin:0;padding-left:20px} ul.tree{padding-left:0}
ul.tree li{position:relative;padding:2px 0 2px 14px;white-space:nowrap}
ul.tree ul li::before{content:'';position:absolute;left:-8px;top:0;bottom:0;border-left:1px solid #c7ccd3}
ul.tree ul li::after{content:'';position:absolute;left:-8px;top:12px;width:16px;border-top:1px solid #c7ccd3}
ul.tree ul li:last-child::before{bottom:auto;height:12px}
code{font:12.5px ui-monospace,SFMono-Regular,Menlo,Consolas,monospace}
.hl pre,pre{font:12.5px/1.5 ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;margin:0;padding:10px;overflow-x:auto}
.hl{border-radius:6px} pre.instruction,pre.feedback{background:#f8fafc;white-space:pre-wrap;word-break:break-word}
#js-errors{background:#fee2e2;border:1px solid #dc2626;padding:8px 14px;border-radius:8px}
"""


def render(d: ReportData) -> str:
    run, ov, info = d.run, d.overview, d.info
    (chart_gen, chart_calls, chart_bars), gens, stacks, used = charts(d)
    code, code_css = _code_html(d)
    step = "step" if info.kind == "prompt" else "generation"
    tokens = ov.prompt_tokens + ov.completion_tokens
    stats = [("status", escape(ov.status)), ("best test", fmt(ov.best_test)), ("best train", fmt(ov.best_train)),
             ("candidates", f"{ov.candidates} ({ov.valid} valid)"),
             (f"{step}s", "—" if ov.generations_done is None else str(ov.generations_done)),
             ("paid LLM calls", str(ov.llm_calls)), ("tokens", f"{tokens:,}"), ("LLM cost", f"${ov.cost_usd:.4f}")]
    outcome_rows = [("", [escape(str(g)), *[str(s[n]) for n, _ in used], str(sum(s.values()))]) for g, s in zip(gens, stacks)]
    best = d.best
    best_facts = ""
    if best is not None:
        best_facts = _kv([("candidate", f"<code>{escape(best.id)}</code>"), ("operator", escape(best.operator)),
                          (step, str(best.generation)), ("parents", escape(", ".join(best.parent_ids) or "none")),
                          ("train", fmt(best.train_score)), ("test", fmt(ov.best_test if ov.best_test_id == best.id else None)),
                          ("thought", escape(best.thought or "(none)"))])
    config = _kv([(k, escape(json.dumps(v) if not isinstance(v, str) else v)) for k, v in run.config.items()])
    totals = _kv([("paid LLM calls", str(ov.llm_calls)), ("cached answers", str(d.cached_calls)),
                  ("failed calls", str(d.failed_calls)), ("prompt tokens", f"{ov.prompt_tokens:,}"),
                  ("completion tokens", f"{ov.completion_tokens:,}"), ("cost", f"${ov.cost_usd:.4f}")])
    created = time.strftime("%Y-%m-%d %H:%M", time.localtime(run.created_at))
    note = f'<p class="bad">{escape(info.note)}</p>' if info.note else ""
    csp = ("default-src 'none'; style-src 'unsafe-inline'; img-src data:; "
           f"script-src 'sha256-{base64.b64encode(hashlib.sha256(ERROR_HOOK.encode()).digest()).decode()}'")
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="{csp}">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>discover report · {escape(run.id)} · {escape(run.problem)}</title>
<style>{CSS}{code_css}</style></head>
<body><main>
<div id="js-errors" hidden><b>Script errors on this page:</b><ul></ul></div>
<script>{ERROR_HOOK}</script>
<h1>Run <code>{escape(run.id)}</code> · {escape(run.problem)}</h1>
<p class="muted">{escape(run.strategy)} · {escape(run.model)} · sandbox {escape(run.sandbox or "none")} · started {created}
 · {escape(ov.status)}{escape(": " + run.stop_reason) if run.stop_reason else ""}</p>{note}
<div class="stats">{"".join(f'<div class="stat"><b>{v}</b><span>{escape(k)}</span></div>' for k, v in stats)}</div>
<h2>Progress</h2>
<div class="grid"><div>{chart_gen}</div><div>{chart_calls}</div></div>
<h2>Outcomes per {step}</h2>
<div class="grid"><div>{chart_bars}</div>
<div>{_table([step, *[escape(n) for n, _ in used], "total"], outcome_rows, "outcomes")}</div></div>
<h2>Leaderboard</h2>
<section class="card" id="leaderboard">{_leaderboard_html(d)}</section>
<h2>Best candidate</h2>
{f'<section class="card" id="best">{best_facts}</section>' if best_facts else ""}
<section class="card" id="best-code">{code}</section>
{f'<section class="card" id="best-feedback"><b>Feedback it received</b><pre class="feedback">{escape(d.best_feedback)}</pre></section>' if d.best_feedback else ""}
<h2>Lineage of the best</h2>
<section class="card" id="lineage">{f'<ul class="tree">{_lineage_html(d.lineage, info)}</ul>' if d.lineage else '<p class="muted">No valid candidate.</p>'}</section>
<h2>LLM usage</h2>
<section class="card" id="usage">{totals}</section>
<h2>Run configuration</h2>
<section class="card" id="config">{config}</section>
<p class="muted">Generated by discover on {time.strftime("%Y-%m-%d %H:%M")} from {escape(str(d.run.problem_dir))}.</p>
</main></body></html>
"""


def default_path(store: Store, run_id: str) -> Path:
    return store.runs_dir / f"report-{run_id}.html"


def write_report(store: Store, run_id: str, out: Path | None = None) -> Path:
    data = collect(store, run_id)
    path = out or default_path(store, data.run.id)
    try:
        path.write_text(render(data), encoding="utf-8")
    except OSError as exc:
        raise DiscoverError(f"cannot write the report to {path}: {exc.strerror}", path=str(path)) from exc
    return path
