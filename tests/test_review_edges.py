"""Rough edges a newcomer hit (issue 15), each pinned: one definition of "best" (export --best takes the seed when
the seed is best), --json with a schema for show, lineage, eval, doctor and problems, --version, defaults in --help,
user text printed as text (":train:" is not an emoji), and the scaffold's comment naming a command that works."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from discover.cli import app
from discover.errors import ProblemError
from discover.problem import load_problem
from discover.review.best import best_candidate
from discover.scaffold import new_problem
from discover.store import Store
from tests.loop_helpers import LINEAR
from tests.test_web_helpers import add, build


@pytest.fixture(scope="module")
def web(tmp_path_factory):
    return build(tmp_path_factory.mktemp("edges"))


def cli(*args: str) -> object:
    res = CliRunner().invoke(app, list(args), terminal_width=200)
    return res


def test_export_best_is_the_seed_when_no_llm_candidate_beats_it(tmp_path):
    """The summary said the seed (23.15 %) was best while export --best wrote the top LLM candidate (460 %)."""
    store = Store(tmp_path / "runs")
    rid = store.create_run(problem="linear", problem_dir=LINEAR, kind="code", strategy="eoh", model="fake/x",
                           sandbox="process", config={}, run_id="r-seed-best")
    seed = add(store, rid, gen=0, slot=0, op="seed", parents=[], body="return 3 * x", thought="", train=23.15)
    add(store, rid, gen=1, slot=0, op="e1", parents=[seed], body="return 30 * x", thought="worse", train=460.0)
    add(store, rid, gen=1, slot=1, op="e2", parents=[seed], body="return 0", thought="forged", train=0.0,
        status="suspicious", valid=False)  # better than the optimum: never ranked
    add(store, rid, gen=1, slot=2, op="m1", parents=[seed], body="return x", thought="", train=None, status="cancelled",
        valid=False)
    store.set_run_status(rid, "finished", "done")
    assert best_candidate(store.candidates(rid), minimize=True).id == seed
    forged = next(c for c in store.candidates(rid) if c.status == "suspicious")
    shown = cli("show", forged.id, "--runs-dir", str(tmp_path / "runs")).output
    assert "suspicious" in shown  # listed, never ranked
    board = json.loads(cli("leaderboard", "--json", "--split", "train", "--runs-dir", str(tmp_path / "runs")).output)
    assert forged.id not in [r["candidate_id"] for r in board["leaderboards"][0]["rows"]]
    out = tmp_path / "best.py"
    res = cli("export", "--best", "--runs-dir", str(tmp_path / "runs"), "-o", str(out))
    assert res.exit_code == 0, res.output
    assert f"# candidate: {seed} (operator seed" in out.read_text() and "return 3 * x" in out.read_text()
    runs = json.loads(cli("runs", "--json", "--runs-dir", str(tmp_path / "runs")).output)
    assert runs["runs"][0]["best_train_id"] == seed and runs["runs"][0]["best_train"] == 23.15


def test_best_ties_go_to_the_earlier_and_maximize_is_honoured(tmp_path):
    store = Store(tmp_path / "runs")
    rid = store.create_run(problem="linear", problem_dir=LINEAR, kind="code", strategy="eoh", model="fake/x",
                           sandbox="process", config={})
    a = add(store, rid, gen=0, slot=0, op="seed", parents=[], body="return 1", thought="", train=2.0)
    b = add(store, rid, gen=1, slot=0, op="e1", parents=[a], body="return 2", thought="", train=2.0)
    c = add(store, rid, gen=1, slot=1, op="e1", parents=[a], body="return 3", thought="", train=1.0)
    rows = store.candidates(rid)
    assert best_candidate(rows, minimize=False).id == a  # 2.0 twice: the earlier
    assert best_candidate(rows, minimize=True).id == c
    assert best_candidate([r for r in rows if r.id == b], minimize=True).id == b
    assert best_candidate([], minimize=True) is None


def test_show_and_lineage_json(web):
    res = cli("show", web.cross[:7], "--json", "--runs-dir", str(web.runs_dir))
    assert res.exit_code == 0, res.output
    d = json.loads(res.output)
    assert d["schema"] == "discover.show/1" and d["id"] == web.cross and "code_tokens" not in d
    assert [p["id"] for p in d["parents"]] == [web.child, web.seed] and d["llm"]["response"].startswith("Thought: ")
    res = cli("lineage", web.cross, "--json", "--runs-dir", str(web.runs_dir))
    tree = json.loads(res.output)
    assert tree["schema"] == "discover.lineage/1" and tree["root"]["id"] == web.cross
    first, second = tree["root"]["parents"]
    assert first["id"] == web.child and first["parents"][0]["id"] == web.seed
    assert second["id"] == web.seed and second["repeated"] is True and second["parents"] == []


def test_show_prints_meta_and_stored_text_as_text(web):
    res = cli("show", web.child, "--runs-dir", str(web.runs_dir))
    assert res.exit_code == 0 and 'meta: {"island": 0}' in res.output
    res = cli("show", web.cross, "--runs-dir", str(web.runs_dir))
    assert "<script>alert(1)</script>" in res.output  # a terminal shows it as written


def test_problem_check_prints_train_not_an_emoji(monkeypatch):
    """The check names carry instance-set names ("set:train") and messages carry evaluator text: printed as text."""
    from discover.scaffold import CheckResult

    monkeypatch.setattr("discover.scaffold.check_problem", lambda problem, evaluate_fn=None: [
        CheckResult("set:train", True, "seed scores 1.5 on 'train'"),
        CheckResult("set:test", False, "evaluator said [red]no[/red] :smile:")])
    res = cli("problem", "check", LINEAR, "--sandbox", "process")
    assert res.exit_code == 1
    assert "ok   set:train: seed scores 1.5 on 'train'" in res.output
    assert "FAIL set:test: evaluator said [red]no[/red] :smile:" in res.output
    assert "\N{STEAM LOCOMOTIVE}" not in res.output and "\N{SMILING FACE WITH OPEN MOUTH}" not in res.output


def test_scaffold_comment_names_the_folder_and_that_command_works(tmp_path):
    root = new_problem("myprob", tmp_path / "problems")
    first = (root / "problem.toml").read_text().splitlines()[0]
    assert f"`discover problem check {root}`" in first
    assert (Path(str(root)) / "problem.toml").is_file()  # the command's argument is the folder itself
    with pytest.raises(ProblemError, match="no problem named 'myprob'"):  # what the old comment's command got
        load_problem("myprob")


def test_eval_json_has_a_schema(tmp_path):
    f = tmp_path / "h.py"
    f.write_text("def solve(x):\n    return 3 * x + 1\n")
    res = cli("eval", str(f), "--problem", LINEAR, "--split", "train", "--sandbox", "process", "--json")
    assert res.exit_code == 0, res.output
    out = json.loads(res.output)
    assert out["schema"] == "discover.eval/1" and out["results"]["train"]["status"] == "ok"
    assert out["results"]["train"]["score"] == 0


def test_doctor_and_problems_json():
    import subprocess
    import sys

    # in a fresh process, as a user runs it (earlier tests' in-process state must not decide what doctor sees)
    out = subprocess.run([sys.executable, "-m", "discover", "doctor", "--json"], capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stderr
    doc = json.loads(out.stdout)
    assert doc["schema"] == "discover.doctor/1"
    kinds = {c["component"] for c in doc["checks"]}
    assert {"llm", "sandbox"} <= kinds and any(c["backend"] == "process" and c["usable"] for c in doc["checks"])
    probs = json.loads(cli("problems", "--json").output)
    assert probs["schema"] == "discover.problems/1"
    tsp = next(p for p in probs["problems"] if p["name"] == "tsp")
    assert tsp["direction"] == "minimize" and tsp["train"] and tsp["test"] and tsp["error"] is None


def test_version_and_defaults_in_help():
    from discover import __version__

    assert cli("--version").output.strip() == f"discover {__version__}"
    helptext = cli("eval", "--help").output
    assert "[default: test]" in helptext and "[default: auto]" in helptext
    assert "[default: 8765]" in cli("serve", "--help").output
