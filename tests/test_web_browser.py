"""The run view in a real browser (Debian's headless chromium over the DevTools protocol): `discover serve`'s page
and the static report load with no console errors, CSP violations or failed requests; the lineage tree and a
candidate's code render; a candidate written to the store while the page is open appears without a reload; stored
text that looks like HTML stays text. Screenshots are written to DISCOVER_SCREENSHOTS (default: the test's tmp
folder) and their paths printed, to be looked at."""

from __future__ import annotations

import asyncio
import os
import threading
from pathlib import Path

import pytest

from discover.review.report import write_report
from discover.store import Store
from discover.web.data import open_store
from discover.web.server import make_server
from tests.test_web_helpers import Browser, add_live_candidate, build, chromium_path

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def web(tmp_path_factory):
    if chromium_path() is None:
        print("skipping the browser tests: chromium is not installed (apt-get install chromium)")
        pytest.skip("chromium is not installed (apt-get install chromium)")
    return build(tmp_path_factory.mktemp("webb"))


@pytest.fixture
def shots(tmp_path) -> Path:
    where = Path(os.environ.get("DISCOVER_SCREENSHOTS") or tmp_path)
    where.mkdir(parents=True, exist_ok=True)
    return where


@pytest.fixture
def server(web):
    srv = make_server(web.runs_dir, port=0)
    threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True).start()
    yield srv
    srv.shutdown()
    srv.server_close()


def node(cid: str) -> str:
    return f"document.querySelector('#tree .node[data-id=\"{cid}\"]')"


def test_served_page_renders_tree_and_code_and_updates_live(web, server, shots, tmp_path):
    async def drive():
        async with Browser(tmp_path / "profile") as b:
            await b.goto(server.url + f"#run={web.run_id}")
            await b.wait_for("document.querySelectorAll('#tree .node').length === 4")
            # the best (by train score) opens first; its code is highlighted, its diff to the seed shown
            await b.wait_for(f"document.querySelector('#detail h2 code')?.textContent === '{web.child}'")
            code = await b.js("document.querySelector('#detail pre.code').textContent")
            assert code == "def solve(x):\n    return 3 * x\n"
            assert await b.js("document.querySelectorAll('#detail pre.code span.k').length") >= 2  # def, return
            assert "+    return 3 * x" in await b.js("document.querySelector('#detail pre.diff').textContent")
            assert await b.js("document.querySelector('#tree .best-mark').closest('.node').dataset.id") == web.child
            # the chart holds every candidate (one point each) plus best-so-far and the optimum line
            points = await b.js("Chart.getChart('scatter').data.datasets.filter(d => d.type === 'scatter')"
                                ".reduce((n, d) => n + d.data.length, 0)")
            assert points == 4
            gens = await b.js("[...document.querySelectorAll('.stat')].find(s => s.textContent.endsWith('generations'))"
                              ".querySelector('b').textContent")
            assert gens == "3"  # generations 0, 1 and 2 (not "0 generations" while generation 0 has candidates)
            await b.screenshot(shots / "serve-run.png")

            new = add_live_candidate(web.runs_dir, web.run_id, web.child, 0.25)
            await b.wait_for(f"{node(new)} !== null", 10)  # no reload: the page polls
            assert await b.js("document.querySelector('#tree .best-mark').closest('.node').dataset.id") == new
            assert await b.js("performance.getEntriesByType('navigation').length") == 1
            # the open candidate (its parent) now lists it as a child, also without a reload
            await b.wait_for(f"[...document.querySelectorAll('#detail a.cid')].some(a => a.dataset.id === '{new}')", 10)

            # a proposal written before its LLM call shows as in flight
            store = Store(web.runs_dir, create=False)
            store.add_proposal(web.run_id, 9, operator="m1", parent_ids=[web.child], messages=[], prefix=None,
                               sample_index=0, model="fake/web")
            store.close()
            text = await b.wait_for("document.getElementById('in-flight')?.textContent", 10)
            assert text.startswith(f"In flight: #9 m1 from {web.child[:8]}: asking the model, ")

            await b.js(f"{node(web.cross)}.click()")
            await b.wait_for(f"document.querySelector('#detail h2 code')?.textContent === '{web.cross}'")
            await b.js("document.querySelectorAll('#detail details').forEach(d => d.open = true)")
            thought = await b.js("document.querySelector('#detail .thought').textContent")
            assert thought == "Thought: <script>alert(1)</script><img src=x onerror=alert(2)>"
            assert await b.js("document.querySelectorAll('#detail img, #detail script').length") == 0
            assert await b.js("document.querySelectorAll('#detail pre.diff').length") == 2  # one per parent
            prompt = await b.js("document.querySelector('#detail .messages').textContent")
            assert "Cross these two." in prompt and "You write heuristics." in prompt
            await b.screenshot(shots / "serve-candidate.png")
            assert b.errors == []

    asyncio.run(drive())
    print(f"screenshots: {shots / 'serve-run.png'} {shots / 'serve-candidate.png'}")


def test_static_report_works_offline_with_the_same_views(web, shots, tmp_path):
    store = open_store(web.runs_dir)
    reports = {rid: write_report(store, rid, tmp_path / f"{rid}.html") for rid in (web.run_id, web.prompt_run)}

    async def drive():
        async with Browser(tmp_path / "profile") as b:
            await b.goto(reports[web.run_id].resolve().as_uri())
            await b.wait_for("document.querySelectorAll('#tree .node').length >= 4")
            await b.wait_for("document.querySelector('#detail pre.code') !== null")
            await b.js(f"{node(web.broken)}.click()")
            await b.wait_for(f"document.querySelector('#detail h2 code')?.textContent === '{web.broken}'")
            assert "NameError" in await b.js("document.querySelector('#detail table.evals').textContent")
            footer = await b.js("document.getElementById('footer').textContent")
            assert footer.startswith("discover report · generated ") and "/" not in footer.split("generated")[0]
            assert str(web.runs_dir) not in footer and "/tmp" not in footer
            await b.screenshot(shots / "report-code.png")

            await b.goto(reports[web.prompt_run].resolve().as_uri())
            await b.wait_for("document.querySelector('#detail pre.code.text') !== null")
            assert await b.js("document.querySelector('#detail pre.code').textContent") == "Say the opposite word."
            assert await b.js("document.querySelector('#detail h3').textContent") == "instruction"
            await b.screenshot(shots / "report-prompt.png")
            assert b.errors == []

    asyncio.run(drive())
    print(f"screenshots: {shots / 'report-code.png'} {shots / 'report-prompt.png'}")


def test_error_detection_catches_a_broken_page(web, tmp_path):
    """The control for the tests above: a script error and a CSP violation must both be caught."""
    report = write_report(open_store(web.runs_dir), web.run_id, tmp_path / "r.html")
    broken = tmp_path / "broken.html"
    broken.write_text(report.read_text().replace("</main>", "<script>no_such_function()</script></main>"))

    async def drive():
        async with Browser(tmp_path / "profile") as b:
            await b.goto(broken.resolve().as_uri())
            await b.wait_for("document.querySelectorAll('#tree .node').length >= 4")
            await b.js("setTimeout(() => no_such_function_either(), 0)")
            await asyncio.sleep(0.5)
            return b.errors

    errors = asyncio.run(drive())
    assert any("Content Security Policy" in e for e in errors)  # the injected inline script is refused
    assert any("no_such_function_either" in e for e in errors)


def test_axes_switch_and_the_configuration_folds(web, server, tmp_path):
    async def drive():
        async with Browser(tmp_path / "profile") as b:
            await b.goto(server.url + f"#run={web.run_id}")
            await b.wait_for("Chart.getChart('scatter') !== undefined")
            await b.js("{ const s = document.getElementById('y-axis'); s.value = 'logarithmic'; s.dispatchEvent(new Event('change')); }")
            assert await b.js("Chart.getChart('scatter').scales.y.type") == "logarithmic"
            await b.js("{ const s = document.getElementById('x-axis'); s.value = 'calls'; s.dispatchEvent(new Event('change')); }")
            xs = await b.js("Chart.getChart('scatter').data.datasets.filter(d => d.type === 'scatter')"
                            ".flatMap(d => d.data.map(p => p.x)).sort()")
            assert xs[:4] == [0, 1, 2, 3]  # paid calls made when each was proposed
            assert await b.js("document.querySelector('#run-facts details').open") is False
            assert "generations" in await b.js("document.querySelector('#run-facts details').textContent")
            assert b.errors == []

    asyncio.run(drive())
