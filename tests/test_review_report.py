"""`discover report`: one self-contained HTML file showing the same page as `discover serve`, its data embedded.
Checked as text here (the data inside, escaping, nothing from the network, a CSP that admits exactly the inlined
scripts and styles, no machine path); tests/test_web_browser.py renders it in headless chromium."""

from __future__ import annotations

import base64
import hashlib
import json
import re
from html import unescape
from pathlib import Path

import pytest
from typer.testing import CliRunner

from discover.cli import app
from discover.review.report import collect, write_report
from discover.store import Store
from tests.test_review_helpers import XSS, shared_store


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    return shared_store(tmp_path_factory)


@pytest.fixture(scope="module")
def html_b(built, tmp_path_factory) -> Path:
    """Run B's report: one of its candidates' thought is a script tag."""
    return write_report(Store(built.runs_dir, create=False), built.run_b, tmp_path_factory.mktemp("report") / "b.html")


def embedded(html: str) -> dict:
    block = html.split('<script type="application/json" id="discover-data">')[1].split("</script>")[0]
    return json.loads(block)


def test_report_embeds_every_candidate_with_its_detail(built, html_b):
    data = embedded(html_b.read_text())
    store = Store(built.runs_dir, create=False)
    ids = {c.id for c in store.candidates(built.run_b)}
    assert data["schema"] == "discover.report/1" and data["run"]["run"]["id"] == built.run_b
    assert {c["id"] for c in data["run"]["candidates"]} == ids == set(data["candidates"])
    tie = data["candidates"][built.tie_b]
    assert "return 1 + 3 * x" in tie["code"] and tie["thought"] == XSS
    assert data["run"]["best_id"] == built.tie_b  # the best train score, earliest on ties (discover.review.best)
    assert any(r["name"] == "zero" and r["kind"] == "baseline" for r in data["run"]["leaderboard"]["rows"])


def test_llm_text_is_never_markup_in_the_file(html_b):
    html = html_b.read_text()
    assert XSS not in html  # inside the JSON block '<' is \u003c: nothing can close the block or open a tag
    assert "\\u003cscript\\u003ealert(1)\\u003c/script\\u003e" in html


def test_report_is_self_contained_and_its_csp_admits_exactly_its_inline_parts(html_b):
    html = html_b.read_text()
    assert "<link rel=\"stylesheet\"" not in html and "@import" not in html and "<script src" not in html
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", html)
    csp = unescape(re.search(r'http-equiv="Content-Security-Policy" content="([^"]*)"', html).group(1))
    assert "default-src 'none'" in csp and "'unsafe-inline'" not in csp and "connect-src" not in csp

    def sha(text: str) -> str:
        return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode()).digest()).decode() + "'"

    scripts = re.findall(r"<script>(.*?)</script>", html, re.S)
    styles = re.findall(r"<style>(.*?)</style>", html, re.S)
    assert len(scripts) == 2 and len(styles) == 1  # Chart.js and the page's script; one stylesheet
    assert all(sha(s) in csp for s in scripts) and sha(styles[0]) in csp


def test_no_machine_path_in_the_page_itself(built, html_b):
    html = html_b.read_text()
    page = html.split('<script type="application/json"')[0]  # the markup; the data holds what the run stored
    assert str(built.runs_dir) not in html and "/work/" not in page and "/tmp/" not in page


def test_prompt_run_report_is_text_with_steps(built):
    data = collect(Store(built.runs_dir, create=False), built.run_prompt)
    assert data["run"]["target"]["language"] == "text" and data["run"]["target"]["step_word"] == "step"
    best = data["candidates"][data["run"]["best_id"]]
    assert best["text_label"] == "instruction" and best["code_tokens"] == [["", best["code"]]]


def test_run_without_candidates_still_reports(built, tmp_path):
    data = embedded(write_report(Store(built.runs_dir, create=False), built.run_crashed, tmp_path / "c.html").read_text())
    assert data["run"]["run"]["status"] == "crashed" and data["run"]["candidates"] == [] and data["candidates"] == {}
    assert data["run"]["best_id"] is None


def test_cli_default_path_and_open(built, tmp_path, monkeypatch):
    opened = []
    monkeypatch.setattr("webbrowser.open", lambda url: opened.append(url) or True)
    res = CliRunner().invoke(app, ["report", built.run_a[:17], "--open", "--runs-dir", str(built.runs_dir)],
                             terminal_width=200)
    assert res.exit_code == 0, res.output
    path = built.runs_dir / f"report-{built.run_a}.html"
    assert path.is_file() and f"wrote {path}" in res.output
    assert opened == [path.resolve().as_uri()]
    path.unlink()
