"""Scorers, including a user's Python scorer run in the real sandbox (process backend), and one that fails there."""

from __future__ import annotations

import asyncio
import contextlib

import pytest

from discover.errors import ConfigError
from discover.prompting import PromptConfig, run_prompt_job
from discover.prompting.scorers import (
    ChoiceScorer, ContainsScorer, ExactScorer, NumericScorer, RegexScorer, UserScorer, make_scorer, normalise,
)
from discover.llm import fake
from discover.sandbox import open_sandbox
from discover.store import Store
from tests.test_prompting_helpers import MAGIC, OproResponder, calls, make_task_file

pytestmark = pytest.mark.filterwarnings("ignore:the 'process' sandbox is weak")


@pytest.fixture(autouse=True)
def _fresh():
    fake.reset()
    yield
    fake.reset()


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


@contextlib.contextmanager
def _user_scorer(tmp_path, code: str):
    path = tmp_path / "scorer.py"
    path.write_text(code)
    sc = UserScorer(path)
    try:
        with open_sandbox("process", workers=1) as sb:
            sc.sandbox = sb
            yield sc
    finally:
        sc.close()


def test_user_scorer(tmp_path):
    with _user_scorer(tmp_path, "def score(output, target):\n    return 1.0 if target in output else 0.25\n") as sc:
        b = asyncio.run(sc.score_batch(["xx anti-w1", "nope"], ["anti-w1", "anti-w2"]))
    assert b.status == "ok" and [r.score for r in b.results] == [1.0, 0.25]


def test_user_scorer_raising_on_one_example_is_recorded(tmp_path):
    code = "def score(output, target):\n    if output == 'boom':\n        raise ValueError('cannot parse')\n    return 1.0\n"
    with _user_scorer(tmp_path, code) as sc:
        b = asyncio.run(sc.score_batch(["ok", "boom"], ["a", "b"]))
    assert b.status == "ok" and b.results[0].score == 1.0
    assert b.results[1].score == 0.0 and b.results[1].error == "ValueError: cannot parse"


def test_user_scorer_without_sandbox_is_a_config_error(tmp_path):
    path = tmp_path / "scorer.py"
    path.write_text("def score(o, t):\n    return 1.0\n")
    sc = UserScorer(path)
    with pytest.raises(ConfigError, match="needs a sandbox"):
        asyncio.run(sc.score_batch(["a"], ["a"]))
    sc.close()


def _prompt_config(tmp_path, n: int = 20, **kw) -> PromptConfig:
    task = make_task_file(tmp_path / "opp.jsonl", n)
    base = dict(task=str(task), start="Answer.", steps=2, candidates_per_step=2, task_model="fake/t",
                optimizer_model="fake/o", scorer=str(tmp_path / "scorer.py"), sandbox="process")
    base.update(kw)
    return PromptConfig(**base)


def _script() -> OproResponder:
    responder = OproResponder()
    fake.script("t", responder)
    fake.script("o", responder)
    return responder


def test_user_scorer_file_drives_a_run_in_the_sandbox(tmp_path):
    (tmp_path / "scorer.py").write_text("def score(output, target):\n    return float(output.strip() == target)\n")
    _script()
    s = run_prompt_job(_prompt_config(tmp_path, n=24, minibatch=4), runs_dir=tmp_path / "runs")
    assert s.status == "finished" and MAGIC in s.best.code and s.best.train_score == 1.0
    assert s.test_scores[s.best.id] == 1.0 and s.test_scores[s.start.id] < 0.5
    assert Store(tmp_path / "runs").get_run(s.run_id).sandbox == "process"


@pytest.mark.parametrize("code,needle", [
    ("def score(output, target)\n    return 1\n", "SyntaxError"),
    ("import no_such_module_xyz\ndef score(o, t):\n    return 1\n", "ModuleNotFoundError"),
    ("def scorer(o, t):\n    return 1\n", "defines no function score"),
])
def test_failing_user_scorer_is_a_recorded_failure_not_a_crash(tmp_path, code, needle):
    (tmp_path / "scorer.py").write_text(code)
    responder = _script()
    s = run_prompt_job(_prompt_config(tmp_path), runs_dir=tmp_path / "runs")
    assert s.status == "stopped" and s.stop_reason.startswith("the scorer failed: user scorer scorer.py failed")
    assert needle in s.stop_reason
    store = Store(tmp_path / "runs")
    assert store.get_run(s.run_id).status == "stopped"
    start = store.candidates(s.run_id)[0]
    ev = store.evaluations(start.id, "train")[0]
    assert ev.status == "error" and needle in ev.error
    assert start.status == "evaluated" and not start.valid and needle in start.reject_reason
    assert s.best is None and s.test_scores == {}
    # the start's answers were paid for once and kept; nothing was proposed after the scorer failed
    assert responder.kinds["meta"] == 0 and len(calls(tmp_path / "runs", s.run_id, paid=True)) == len(ev.instances) == 10


def test_label_scorer_has_the_task_model_choose_among_the_labels(tmp_path):
    import json

    _script()
    cfg = _prompt_config(tmp_path, n=24, minibatch=4, scorer="label")
    s = run_prompt_job(cfg, runs_dir=tmp_path / "runs")
    assert s.status == "finished" and MAGIC in s.best.code and s.best.train_score == 1.0
    assert s.test_scores[s.start.id] < 0.5  # "wK" is no label: the constrained answer is a wrong label
    task_calls = calls(tmp_path / "runs", s.run_id, paid=True, role="task")
    labels = json.loads(task_calls[0]["params"])["choose"]  # the train split's targets (no --labels given)
    assert len(labels) >= 12 and set(labels) <= {f"anti-w{k}" for k in range(24)}
    assert all(json.loads(r["params"]) == {"choose": labels} for r in task_calls)
    assert all(r["response"] in labels for r in task_calls)


def test_label_choices_are_cached_like_completions():
    from discover.llm import Gateway, MemoryCallLog

    fake.script("chooser", ["negative, surely", "positive"])
    g = Gateway(call_log=MemoryCallLog())
    msgs = [{"role": "user", "content": "Review: dull. Sentiment?"}]
    first = asyncio.run(g.choose("fake/chooser", msgs, ["positive", "negative"]))
    again = asyncio.run(g.choose("fake/chooser", msgs, ["positive", "negative"]))
    assert first.text == "negative" and not first.cached
    assert again.text == "negative" and again.cached and fake.stats("chooser").calls == 1


def test_label_scorer_needs_labels_and_an_in_process_task_model(tmp_path):
    from discover.llm import Gateway

    with pytest.raises(ConfigError, match="needs labels"):
        make_scorer("label")
    with pytest.raises(ConfigError, match="needs an in-process task model"):
        run_prompt_job(_prompt_config(tmp_path, scorer="label", task_model="openai/gpt-4o-mini"),
                       runs_dir=tmp_path / "runs")
    with pytest.raises(ConfigError, match="returns text only"):
        asyncio.run(Gateway().choose("openai/gpt-4o-mini", [{"role": "user", "content": "x"}], ["a", "b"]))
