"""Scorers, including a user's Python scorer run through the sandbox contract (and one that fails)."""

from __future__ import annotations

import asyncio

import pytest

from discover.errors import ConfigError
from discover.prompting import PromptConfig, run_prompt_job
from discover.prompting.scorers import (
    ChoiceScorer, ContainsScorer, ExactScorer, NumericScorer, RegexScorer, UserScorer, make_scorer, normalise,
)
from discover.store import Store
from tests.test_prompting_fakes import InProcessSandbox, ScriptedGateway, make_task_file, sandbox_contract_stub


def test_normalise():
    assert normalise("  The answer is: Insane. ") == "insane"
    assert normalise('"Hello   World!"') == "hello world"
    assert normalise("Output: p") == "p"


def test_exact():
    s = ExactScorer()
    assert s.one("Insane.", "insane").score == 1
    assert s.one("insane\n\nBecause sane means ...", "insane").score == 1  # first line counts
    assert s.one("not insane", "insane").score == 0
    assert s.one("", "x").score == 0


def test_contains():
    s = ContainsScorer()
    assert s.one("I think the word is Insane, clearly", "insane").score == 1
    assert s.one("sane", "insane").score == 0


def test_regex():
    s = RegexScorer(r"answer: (\w+)")
    assert s.one("answer: no ... final answer: Yes", "yes").score == 1
    assert s.one("nothing here", "yes").score == 0
    assert RegexScorer(r"\d+").one("3 then 42", "42").score == 1
    with pytest.raises(ConfigError, match="does not compile"):
        RegexScorer("(")


def test_numeric_gsm8k_style():
    s = NumericScorer()
    assert s.one("She sells 9 eggs, 9 * 2 = $18. The answer is 18.", "18").score == 1
    assert s.one("1,234 total", "1234").score == 1
    assert s.one("-3.50", "-3.5").score == 1
    assert s.one("18 then 19", "18").score == 0  # the LAST number counts
    assert s.one("no number", "18").score == 0
    r = s.one("5", "abc")
    assert r.score == 0 and "not a number" in r.error


def test_choice_maps_answer_to_closest_label():
    s = ChoiceScorer(["Yes", "No"])
    assert s.one("No", "No").score == 1
    assert s.one("Let's see. Step 1 ... yes, then ... So the answer is No.", "No").score == 1
    assert s.closest("I would say yes, definitely") == "Yes"
    assert s.closest("Nope") == "No"  # nothing matches as a word: most similar label
    b = ChoiceScorer(["True", "False"])
    assert b.one("The expression evaluates to False", "False").score == 1
    with pytest.raises(ConfigError, match="needs labels"):
        ChoiceScorer([])


def test_make_scorer_errors(tmp_path):
    with pytest.raises(ConfigError, match="unknown scorer"):
        make_scorer("bleu")
    with pytest.raises(ConfigError, match="does not exist"):
        make_scorer(str(tmp_path / "nope.py"))
    assert make_scorer(None, default="numeric").name == "numeric"


def _user_scorer(tmp_path, code: str, monkeypatch) -> UserScorer:
    sandbox_contract_stub(monkeypatch)
    path = tmp_path / "scorer.py"
    path.write_text(code)
    return UserScorer(path, sandbox=InProcessSandbox())


def test_user_scorer(tmp_path, monkeypatch):
    sc = _user_scorer(tmp_path, "def score(output, target):\n    return 1.0 if target in output else 0.25\n", monkeypatch)
    b = asyncio.run(sc.score_batch(["xx anti-w1", "nope"], ["anti-w1", "anti-w2"]))
    assert b.status == "ok" and [r.score for r in b.results] == [1.0, 0.25]
    sc.close()


def test_user_scorer_raising_on_one_example_is_recorded(tmp_path, monkeypatch):
    code = "def score(output, target):\n    if output == 'boom':\n        raise ValueError('cannot parse')\n    return 1.0\n"
    sc = _user_scorer(tmp_path, code, monkeypatch)
    b = asyncio.run(sc.score_batch(["ok", "boom"], ["a", "b"]))
    assert b.status == "ok" and b.results[0].score == 1.0
    assert b.results[1].score == 0.0 and b.results[1].error == "ValueError: cannot parse"


@pytest.mark.parametrize("code,needle", [
    ("def score(output, target)\n    return 1\n", "SyntaxError"),
    ("import no_such_module_xyz\ndef score(o, t):\n    return 1\n", "ModuleNotFoundError"),
    ("def scorer(o, t):\n    return 1\n", "defines no function score"),
])
def test_failing_user_scorer_is_a_recorded_failure_not_a_crash(tmp_path, monkeypatch, code, needle):
    sc = _user_scorer(tmp_path, code, monkeypatch)
    task = make_task_file(tmp_path / "opp.jsonl", 20)
    cfg = PromptConfig(task=str(task), start="Answer.", steps=2, candidates_per_step=2, task_model="fake/t",
                       optimizer_model="fake/o", scorer=str(tmp_path / "scorer.py"))
    s = run_prompt_job(cfg, runs_dir=tmp_path / "runs", gateway=ScriptedGateway(), scorer=sc)
    assert s.status == "stopped" and s.stop_reason.startswith("the scorer failed: user scorer scorer.py failed")
    assert needle in s.stop_reason
    store = Store(tmp_path / "runs")
    start = store.candidates(s.run_id)[0]
    ev = store.evaluations(start.id, "train")[0]
    assert ev.status == "error" and needle in ev.error
    assert start.status == "evaluated" and not start.valid and needle in start.reject_reason
    assert s.best is None and s.test_scores == {}


def test_user_scorer_through_real_sandbox_if_present(tmp_path):
    sandbox = pytest.importorskip("discover.sandbox")
    if not hasattr(sandbox, "open_sandbox"):
        pytest.skip("discover.sandbox not complete yet")
    path = tmp_path / "scorer.py"
    path.write_text("def score(output, target):\n    return float(output.strip() == target)\n")
    sc = UserScorer(path)
    with sandbox.open_sandbox("process", workers=1) as sb:
        sc.sandbox = sb
        b = asyncio.run(sc.score_batch(["a", "b "], ["a", "c"]))
    assert b.status == "ok" and [r.score for r in b.results] == [1.0, 0.0]
    sc.close()
