"""The web view's data and server, over real HTTP on loopback against a real store: the JSON views (every candidate,
the best by the one definition, diffs to each parent, the prompt and response behind a candidate), the security
headers, the Host check, unknown paths, and a store opened read-only that a writer keeps changing."""

from __future__ import annotations

import json
import threading
import urllib.error
import urllib.request
from html import unescape

import pytest

from discover.web.data import candidate_view, open_store, run_view
from discover.web.page import render_page
from discover.web.server import make_server
from tests.test_web_helpers import XSS, add_live_candidate, build


@pytest.fixture(scope="module")
def web(tmp_path_factory):
    return build(tmp_path_factory.mktemp("web"))


@pytest.fixture(scope="module")
def server(web):
    srv = make_server(web.runs_dir, port=0)
    thread = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)
    thread.start()
    yield srv
    srv.shutdown()
    srv.server_close()


def get(url: str, host: str | None = None):
    req = urllib.request.Request(url, headers={"Host": host} if host else {})
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, dict(r.headers), r.read()
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), e.read()


def test_run_view_has_every_candidate_and_one_best(web):
    v = run_view(open_store(web.runs_dir), web.run_id)
    assert v["schema"] == "discover.web.run/1"
    ids = [c["id"] for c in v["candidates"]]
    assert ids == [web.seed, web.child, web.broken, web.cross]  # order found
    by_id = {c["id"]: c for c in v["candidates"]}
    assert by_id[web.broken]["outcome"] == "error" and "NameError" in by_id[web.broken]["error"]
    assert by_id[web.cross]["parent_ids"] == [web.child, web.seed]
    assert v["best_id"] == web.child and v["run"]["best_train_id"] == web.child
    assert [c["calls_before"] for c in v["candidates"]] == [0, 1, 2, 3]
    assert v["target"] == {"kind": "code", "language": "python", "step_word": "generation", "text_label": "code",
                           "unit": "abs error", "direction": "minimize"}
    assert {"name": "optimum", "kind": "reference", "train": 0.0} in v["baselines"]


def test_candidate_view_diffs_prompt_response_scores(web):
    d = candidate_view(open_store(web.runs_dir), web.cross)
    assert d["schema"] == "discover.web.candidate/1" and d["thought"] == XSS
    assert [p["id"] for p in d["parents"]] == [web.child, web.seed]
    assert "-    return 3 * x" in d["parents"][0]["diff"] and "+    return 2.5 * x" in d["parents"][0]["diff"]
    assert "-    return 2 * x" in d["parents"][1]["diff"]
    assert d["llm"]["messages"][1] == {"role": "user", "content": "Cross these two."}
    assert d["llm"]["response"] == "Thought: " + XSS and d["llm"]["cost_usd"] == 0.01
    assert d["evaluations"][0]["instances"]["x=1"] == {"score": 1.5, "y": 4}
    assert "".join(t[1] for t in d["code_tokens"]) == d["code"]  # highlighting keeps every character
    assert ["k", "def"] in d["code_tokens"]
    child = candidate_view(open_store(web.runs_dir), web.child)
    assert child["feedback"].startswith("improved on train") and child["meta"] == {"island": 0}
    assert sorted(child["children"]) == sorted([web.broken, web.cross])


def test_prompt_run_is_plain_text_with_steps(web):
    v = run_view(open_store(web.runs_dir), web.prompt_run)
    assert v["target"]["language"] == "text" and v["target"]["step_word"] == "step"
    assert v["target"]["direction"] == "maximize" and v["target"]["unit"] == "accuracy"
    d = candidate_view(open_store(web.runs_dir), v["best_id"])
    assert d["code"] == "Say the opposite word." and d["code_tokens"] == [["", "Say the opposite word."]]
    assert d["text_label"] == "instruction"


def test_server_routes_and_security_headers(server, web):
    status, headers, body = get(server.url)
    assert status == 200 and b'<script src="/static/app.js">' in body
    csp = headers["Content-Security-Policy"]
    assert "default-src 'none'" in csp and "script-src 'self'" in csp and "'unsafe-inline'" not in csp
    assert "frame-ancestors 'none'" in csp and headers["X-Content-Type-Options"] == "nosniff"
    status, headers, body = get(server.url + "static/chart.umd.min.js")
    assert status == 200 and body.startswith(b"/*!\n * Chart.js v4.6.1") and "javascript" in headers["Content-Type"]
    status, _, body = get(server.url + "api/runs")
    assert status == 200 and [r["id"] for r in json.loads(body)["runs"]] == [web.run_id, web.prompt_run]
    status, _, body = get(server.url + f"api/candidates/{web.cross[:6]}")
    assert status == 200 and json.loads(body)["id"] == web.cross
    status, _, body = get(server.url + "api/candidates/nosuchid")
    assert status == 404 and "no candidate 'nosuchid'" in json.loads(body)["error"]
    for path in ("static/../data.py", "static/%2e%2e/server.py", "etc/passwd", "static/"):
        assert get(server.url + path)[0] == 404, path


def test_server_refuses_a_foreign_host_header(server):
    """A page on another site that rebinds its name to 127.0.0.1 sends its own name as Host."""
    status, _, body = get(server.url + "api/runs", host="evil.example:80")
    assert status == 421 and body == b"wrong host"
    assert get(server.url + "api/runs", host=f"localhost:{server.server_address[1]}")[0] == 200


def test_new_candidate_shows_up_and_the_store_stays_readonly(server, web, tmp_path):
    _, _, before = get(server.url + f"api/runs/{web.run_id}")
    new = add_live_candidate(web.runs_dir, web.run_id, web.child, 0.5)
    _, _, after = get(server.url + f"api/runs/{web.run_id}")
    a, b = json.loads(before), json.loads(after)
    assert new in [c["id"] for c in b["candidates"]] and new not in [c["id"] for c in a["candidates"]]
    assert a["version"] != b["version"] and b["best_id"] == new
    assert server.store().readonly


def test_server_starts_before_any_run_exists(tmp_path):
    srv = make_server(tmp_path / "empty", port=0)
    threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True).start()
    try:
        status, _, body = get(srv.url + "api/runs")
        assert status == 404 and "no run database" in json.loads(body)["error"]
        assert not (tmp_path / "empty").exists()  # viewing creates nothing
    finally:
        srv.shutdown()
        srv.server_close()


def test_report_page_inlines_everything_and_hashes_it(web):
    html = render_page(mode="report", data={"x": "</script><script>alert(1)</script>&"}, title="t")
    assert "</script><script>alert(1)" not in html and "\\u003c/script\\u003e" in html
    assert '<script src=' not in html and "<link rel=\"stylesheet\"" not in html
    csp = unescape(html.split('http-equiv="Content-Security-Policy" content="')[1].split('"')[0])
    assert csp.count("'sha256-") == 3 and "'unsafe-inline'" not in csp and "connect-src" not in csp


def test_proposals_in_flight_and_a_prompt_without_a_recorded_call(tmp_path):
    from discover.store import Store
    from tests.test_web_helpers import add

    web = build(tmp_path)
    store = Store(web.runs_dir, create=False)
    store.add_proposal(web.run_id, 7, operator="m2", parent_ids=[web.child], messages=[{"role": "user", "content": "go"}],
                       prefix=None, sample_index=0, model="fake/web")
    v = run_view(open_store(web.runs_dir), web.run_id)
    assert [(p["idx"], p["operator"], p["status"], p["parent_ids"]) for p in v["in_flight"]] == [(7, "m2", "pending", [web.child])]
    cid = add(store, web.run_id, gen=3, slot=0, op="m2", parents=[web.child], body="return 3 * x + 2", thought="",
              train=2.0, key="never-recorded")
    store.finish_proposal(web.run_id, 7, status="done", candidate_id=cid)
    v = run_view(open_store(web.runs_dir), web.run_id)
    assert v["in_flight"] == []
    d = candidate_view(open_store(web.runs_dir), cid)
    assert d["llm"]["from_proposal"] is True and d["llm"]["messages"] == [{"role": "user", "content": "go"}]


def test_discover_serve_command_prints_its_url_serves_and_stops_on_ctrl_c(web):
    import os
    import re
    import signal
    import subprocess
    import sys

    proc = subprocess.Popen([sys.executable, "-c", "from discover.cli import main; main()", "serve", "--port", "0",
                             "--runs-dir", str(web.runs_dir)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=dict(os.environ, COLUMNS="200"))
    try:
        line = proc.stdout.readline()
        url = re.search(r"(http://127\.0\.0\.1:\d+/)", line).group(1)
        assert f"runs in {web.runs_dir}" in line
        status, _, body = get(url + "api/runs")
        assert status == 200 and json.loads(body)["schema"] == "discover.web.runs/1"
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=20) in (0, 130)
        assert "Traceback" not in proc.stderr.read()
    finally:
        if proc.poll() is None:
            proc.kill()
