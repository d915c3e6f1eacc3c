"""`discover report`: one self-contained HTML file for a run: the same page as `discover serve` (every candidate on
a scatter, the whole lineage tree, each candidate's code, diffs, thought, feedback, prompt, response and scores),
with its data embedded instead of polled. No network: the scripts and styles are inlined and admitted by hash."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from discover.errors import DiscoverError
from discover.review.runs import overview
from discover.store import Store

REPORT_SCHEMA = "discover.report/1"


def collect(store: Store, run_id: str) -> dict[str, Any]:
    """What the page needs, for one run: its overview, the run view and every candidate's detail."""
    from discover.web.data import candidate_view, run_index, run_view

    idx = run_index(store, store.get_run(run_id).id)
    view = run_view(store, idx.run.id, idx)
    return {"schema": REPORT_SCHEMA, "generated_at": time.time(),
            "runs": [overview(store, idx.run, candidates=idx.candidates, evaluations=idx.evaluations).model_dump()],
            "run": view, "candidates": {c.id: candidate_view(store, c.id, idx) for c in idx.candidates}}


def render(data: dict[str, Any]) -> str:
    from discover.web.page import render_page

    run = data["run"]["run"]
    return render_page(mode="report", data=data, title=f"discover report · {run['id']} · {run['problem']}")


def default_path(store: Store, run_id: str) -> Path:
    return store.runs_dir / f"report-{run_id}.html"


def write_report(store: Store, run_id: str, out: Path | None = None) -> Path:
    data = collect(store, run_id)
    path = out or default_path(store, data["run"]["run"]["id"])
    try:
        path.write_text(render(data), encoding="utf-8")
    except OSError as exc:
        raise DiscoverError(f"cannot write the report to {path}: {exc.strerror}", path=str(path)) from exc
    return path
