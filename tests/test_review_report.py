"""`discover report`: one self-contained HTML file. Checked as text (escaping, no external resources, the parts
are there) and, in the slow test, rendered by headless Chromium (DOM, script errors, a screenshot)."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
from typer.testing import CliRunner

from discover.cli import app
from discover.review.problem_info import ProblemInfo
from discover.review.report import best_so_far, write_report
from discover.review.svg import Series, line_chart, nice_ticks
from discover.store import Store
from tests.test_review_helpers import XSS, shared_store

ESCAPED_XSS = "&lt;script&gt;alert(1)&lt;/script&gt;"


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    return shared_store(tmp_path_factory)


@pytest.fixture(scope="module")
def html_b(built, tmp_path_factory) -> Path:
    """Run B's report: its best candidate's thought is a script tag."""
    return write_report(Store(built.runs_dir, create=False), built.run_b, tmp_path_factory.mktemp("report") / "b.html")


def test_report_has_charts_tables_code_lineage_and_totals(built, html_b):
    html = html_b.read_text()
    assert html.count('<svg xmlns="http://www.w3.org/2000/svg" class="chart') == 3
    for section in ('id="leaderboard"', 'id="best"', 'id="best-code"', 'id="lineage"', 'id="usage"', 'id="config"'):
        assert section in html
    assert "Best train score by generation" in html and "Best train score by LLM calls" in html
    assert "Candidates per generation by outcome" in html
    assert 'class="hl"' in html and ">solve<" in html  # pygments-highlighted code
    assert "zero (baseline)" in html and "(seed)" in html
    assert f"<code>{built.tie_b}</code>" in html  # the best of run B
    assert "paid LLM calls" in html and "fake/b" in html


def test_llm_text_is_escaped(html_b):
    html = html_b.read_text()
    assert XSS not in html
    assert ESCAPED_XSS in html
    assert len(re.findall(r"<script\b", html)) == 1  # our error hook, nothing else


def test_report_is_self_contained(html_b):
    html = html_b.read_text()
    assert "<link" not in html and "@import" not in html and "url(" not in html
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", html)
    assert set(re.findall(r"https?://[^\s\"'<>]+", html)) <= {"http://www.w3.org/2000/svg"}
    assert "Content-Security-Policy" in html and "default-src 'none'" in html


def test_prompt_run_report_shows_the_instruction(built, tmp_path):
    path = write_report(Store(built.runs_dir, create=False), built.run_prompt, tmp_path / "p.html")
    html = path.read_text()
    assert "Best train score by step" in html and "accuracy, higher is better" in html
    assert 'class="instruction"' in html and "Answer with the opposite of the word" in html


def test_run_without_candidates_still_reports(built, tmp_path):
    html = write_report(Store(built.runs_dir, create=False), built.run_crashed, tmp_path / "c.html").read_text()
    assert "crashed" in html and html.count("no scored candidates") == 2 and "No valid candidate." in html
    assert 'id="best"' not in html and "zero (baseline)" in html


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


def test_best_so_far_follows_the_direction():
    mini = ProblemInfo(name="p", kind="code", direction="minimize", unit="", train_sets=["t"], test_sets=[])
    maxi = ProblemInfo(name="p", kind="code", direction="maximize", unit="", train_sets=["t"], test_sets=[])
    points = [(0, 5.0), (1, 7.0), (1, 3.0), (2, None), (3, 4.0), (4, 1.0)]
    assert best_so_far(mini, points, 6) == [(0, 5.0), (1, 3.0), (4, 1.0), (6, 1.0)]
    assert best_so_far(maxi, points, 6) == [(0, 5.0), (1, 7.0), (6, 7.0)]
    assert best_so_far(mini, [], 3) == []


def test_svg_ticks_and_empty_chart():
    assert nice_ticks(0, 23.1, 5) == [0, 5, 10, 15, 20, 25]
    assert nice_ticks(0, 3, 6, integer=True) == [0, 1, 2, 3]
    empty = line_chart([Series("best", [], "#000")], title="t <b>", x_label="x", y_label="y")
    assert "no scored candidates" in empty and "t &lt;b&gt;" in empty and empty.endswith("</svg>")


# -- rendered by a real browser ---------------------------------------------------------------------------------
def chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        if path := shutil.which(name):
            return path
    pytest.skip("chromium not installed: apt-get install chromium (scripts/test does it as root)")


def render(html: Path, tmp: Path, *extra: str) -> subprocess.CompletedProcess:
    cmd = [chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
           "--disable-dev-shm-usage", "--no-first-run", f"--user-data-dir={tmp / 'profile'}", "--enable-logging=stderr",
           "--v=0", "--hide-scrollbars", *extra, html.resolve().as_uri()]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        out, err = proc.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        import os
        import signal

        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        pytest.fail("chromium did not finish within 60 s")
    return subprocess.CompletedProcess(cmd, proc.returncode, out, err)


def console_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if "CONSOLE" in line or "Uncaught" in line]


@pytest.mark.slow
def test_headless_chromium_renders_report_without_script_errors(html_b, tmp_path):
    dom = render(html_b, tmp_path, "--dump-dom")
    assert dom.returncode == 0, dom.stderr[-2000:]
    page = dom.stdout
    assert page.count("<svg") == 3 and "<path" in page and "<rect" in page
    assert re.search(r'<section class="card" id="leaderboard">.*<table class="board">.*zero \(baseline\)', page, re.S)
    assert 'id="best-code"' in page and "solve" in page
    assert '<div id="js-errors" hidden="">' in page and "<li>" not in page.split('id="js-errors"')[1].split("</div>")[0]
    assert ESCAPED_XSS in page  # shown as text, never run
    assert console_lines(dom.stderr) == []
    shot = tmp_path / "report.png"
    render(html_b, tmp_path, f"--screenshot={shot}", "--window-size=1280,2000")
    assert shot.is_file() and shot.stat().st_size > 20_000  # a rendered page, not a blank one
    print(f"screenshot: {shot}")


@pytest.mark.slow
def test_error_detection_catches_a_broken_script(html_b, tmp_path):
    """The control for the test above: a page whose script fails must show up in both checks."""
    broken = tmp_path / "broken.html"
    html = re.sub(r'<meta http-equiv="Content-Security-Policy"[^>]*>', "", html_b.read_text())
    broken.write_text(html.replace("</main>", "<script>no_such_function()</script></main>"))
    dom = render(broken, tmp_path, "--dump-dom")
    errors_box = dom.stdout.split('id="js-errors"')[1].split("</div>")[0]
    assert "no_such_function" in errors_box and "hidden" not in errors_box.split(">")[0]
    assert any("no_such_function" in line for line in console_lines(dom.stderr))
