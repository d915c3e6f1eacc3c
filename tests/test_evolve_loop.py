"""The evolution loop end to end: real gateway (scripted fake provider), real sandbox, real store."""

import json
import signal

import pytest

from discover.config import RunConfig
from discover.targets.code import PREFILL_STOPS
from discover.interrupt import request_stop
from discover.llm import fake
from discover.run import Interrupted, evolve
from discover.store import Store
from tests.loop_helpers import GOOD, LINEAR, answer, cycling


@pytest.fixture(autouse=True)
def _fresh():
    fake.reset()
    yield
    fake.reset()


def cfg(**kw):
    base = dict(problem=LINEAR, model="fake/coder", generations=3, population=3, llm_concurrency=1, workers=2,
                sandbox="auto", seed=1)
    base.update(kw)
    return RunConfig(**base)


def paid_keys(store, run_id):
    return [r["key"] for r in store.llm_calls(run_id) if not r["cached"] and r["error"] is None]


def test_full_small_run_beats_the_seed_and_scores_test(tmp_path):
    seen = []
    respond = cycling(GOOD)
    fake.script("coder", lambda m: (seen.append(m), respond(m))[1])
    s = evolve(cfg(), runs_dir=tmp_path)
    store = Store(tmp_path)
    seed = store.get_candidate(s.seed_id)
    assert s.status == "finished" and s.best.train_score == 0.0 < seed.train_score
    assert s.test_scores[s.best.id] == {"test_small": 0.0, "test_big": 0.0}
    assert s.test_scores[s.seed_id]["test_big"] == pytest.approx(301.0)
    cands = store.candidates(s.run_id)
    assert len(cands) == 1 + 2 + 3 + 3  # seed, gen 0 fills the population, then 3 per generation
    assert {c.operator for c in cands if c.generation > 0} <= {"e1", "e2", "m1", "m2", "m3"}
    assert all(c.parent_ids for c in cands if c.generation > 0)
    # Directional feedback reached later prompts: scores, per-instance comparisons, do/stop lines.
    later = "\n".join(m[1]["content"] for m in seen[2:])
    assert "Evaluator feedback" in later and "improved on" in later and "Do more of:" in later
    assert store.get_run(s.run_id).status == "finished"


def test_opro_strategy_shows_history_ascending_best_last(tmp_path):
    seen = []
    respond = cycling(GOOD)
    fake.script("coder", lambda m: (seen.append(m), respond(m))[1])
    evolve(cfg(strategy="opro"), runs_dir=tmp_path)
    prompt = seen[-1][1]["content"]
    scores = [float(line.split("(score ")[1].rstrip(")")) for line in prompt.splitlines() if line.startswith("### Heuristic")]
    assert len(scores) >= 3 and scores == sorted(scores, reverse=True)  # minimize: worst first, best last


def test_malformed_crashing_and_hanging_candidates_are_recorded_and_fed_back(tmp_path):
    bad = [
        "Sorry, I can't write code today.",
        "```python\ndef solve(x:\n    return\n```",
        answer("return 1 / 0", "divide"),
        answer("return [x]", "a list"),
        answer("while True:\n        pass", "spin"),
    ]
    seen = []
    respond = cycling(bad + GOOD)
    fake.script("coder", lambda m: (seen.append(m), respond(m))[1])
    s = evolve(cfg(generations=3, population=4), runs_dir=tmp_path)
    store = Store(tmp_path)
    by_thought = {c.thought: c for c in store.candidates(s.run_id)}
    rejected = [c for c in store.candidates(s.run_id) if c.status == "rejected"]
    assert {c.reject_reason for c in rejected} >= {"no Python code block found in the response",
                                                  "syntax error at line 1: '(' was never closed"}
    assert rejected[0].code == "Sorry, I can't write code today."  # the paid-for text is kept
    div = store.evaluations(by_thought["divide"].id)[0]
    assert div.status == "error" and "ZeroDivisionError" in div.error
    assert store.evaluations(by_thought["a list"].id)[0].status == "invalid"
    assert store.evaluations(by_thought["spin"].id)[0].status == "timeout"
    assert "ZeroDivisionError" in store.feedback_for(by_thought["divide"].id)
    later = "\n".join(m[1]["content"] for m in seen[5:])
    assert "Stop doing: the response could not be used as code" in later or "Stop doing: it raised" in later
    assert s.best.train_score == 0.0  # the run went on and still found the answer


def test_duplicates_are_not_re_evaluated(tmp_path):
    same = [answer("return 2 * x", "double"), answer("return 2*x  # same thing", "double again")]
    fake.script("coder", cycling(same))
    s = evolve(cfg(generations=1, population=3, duplicate_retries=0), runs_dir=tmp_path)
    store = Store(tmp_path)
    cands = store.candidates(s.run_id)
    dup = [c for c in cands if c.status == "duplicate"]
    assert len(dup) == 1 and dup[0].reject_reason.startswith("duplicate of ")
    assert store.evaluations(dup[0].id) == []


def test_a_duplicate_answer_is_asked_again_and_a_resume_replays_the_retry_from_the_cache(tmp_path):
    same = [answer("return 2 * x", "double"), answer("return 2*x  # same thing", "double again"),
            answer("return 3 * x", "triple")]
    seen = []
    respond = cycling(same)
    fake.script("coder", lambda m: (seen.append(m), respond(m))[1])
    s = evolve(cfg(generations=1, population=3, llm_concurrency=1), runs_dir=tmp_path)
    store = Store(tmp_path)
    cands = [c for c in store.candidates(s.run_id) if c.operator != "seed"]
    assert [c.status for c in cands] == ["evaluated", "evaluated"] and "3 * x" in cands[1].code
    assert s.stats.duplicate_retries == 1 and s.stats.llm_calls == 3
    assert "repeated an existing heuristic" in seen[2][-1]["content"] and "repeated" not in seen[1][-1]["content"]
    keys = paid_keys(store, s.run_id)
    assert len(keys) == 3 == len(set(keys))
    # The same run again in a fresh store that shares the call cache pays nothing: every attempt is a cache hit.
    fake.script("coder", lambda m: pytest.fail("a cached attempt was paid again"))
    again = evolve(cfg(generations=1, population=3, llm_concurrency=1), runs_dir=tmp_path)
    assert again.stats.llm_calls == 0 and again.stats.cached_calls == 3


def test_a_duplicate_whose_re_ask_gets_no_answer_is_still_recorded(tmp_path):
    # The second answer (paid) repeats the first; its re-ask fails. The paid duplicate must still be a candidate.
    fake.script("coder", [answer("return 2 * x", "double"), answer("return 2*x  # same", "double again"),
                          fake.Fail("bad_request", "prompt rejected")])
    s = evolve(cfg(generations=1, population=3, llm_concurrency=1), runs_dir=tmp_path)
    store = Store(tmp_path)
    first, dup = [c for c in store.candidates(s.run_id) if c.operator != "seed"]
    second_key = [r["key"] for r in store.llm_calls(s.run_id) if r["error"] is None][1]
    assert first.status == "evaluated" and dup.status == "duplicate" and dup.llm_call_key == second_key
    assert s.stats.duplicate_retries == 1 and s.stats.llm_errors == 1


@pytest.mark.parametrize("flags,reason,paid", [
    (dict(max_llm_calls=3), "LLM call budget of 3 reached", 3),
    (dict(max_cost_usd=0.025), "cost budget of $0.025 reached", 3),
    (dict(generations=1), "all 1 generations done", 2),
    (dict(generations=2, population=2), "all 2 generations done", 1 + 2),
])
def test_budgets_stop_cleanly(tmp_path, flags, reason, paid):
    fake.script("coder", cycling(GOOD), cost_usd=0.01)
    s = evolve(cfg(**{"generations": 5, **flags}), runs_dir=tmp_path)
    assert reason in s.stop_reason
    store = Store(tmp_path)
    assert len(paid_keys(store, s.run_id)) == paid
    assert store.get_run(s.run_id).status == ("finished" if "generations done" in reason else "stopped")
    assert s.test_scores  # held-out scoring still ran


def test_wall_clock_timeout_is_a_hard_bound(tmp_path):
    import time

    import asyncio

    from discover.engine import run_sync
    from discover.llm import Gateway
    from tests.loop_helpers import InProcessEvaluator

    # litellm's import and first call take seconds on a busy machine: not part of what is measured here
    fake.script("warm", ["ok"])
    asyncio.run(Gateway().complete(model="fake/warm", messages=[{"role": "user", "content": "hi"}]))
    fake.script("coder", cycling(GOOD), delay_s=0.4)
    t0 = time.monotonic()
    s = run_sync(cfg(generations=50, population=4, timeout_s=3, llm_concurrency=2), runs_dir=tmp_path,
                 evaluator=InProcessEvaluator())
    took = time.monotonic() - t0
    assert "wall-clock timeout of 3 s" in s.stop_reason
    assert 1 <= s.stats.llm_calls < 2 * 3 / 0.4 + 1
    # the search stopped at its deadline: the calls in flight were cancelled, not waited for; their prompts stay
    # pending in the store for a resume
    assert took < 3 + 5
    store = Store(tmp_path)
    assert store.proposals(s.run_id, status="pending")


def test_generational_schedule_makes_prompts_reproducible(tmp_path):
    prompts = {}
    for run in ("a", "b"):
        fake.script("coder", cycling(GOOD))
        seen = []
        inner = cycling(GOOD)
        fake.script("coder", lambda m: (seen.append(json.dumps(m)), inner(m))[1])
        evolve(cfg(seed=7, schedule="generational", llm_concurrency=2), runs_dir=tmp_path / run)
        prompts[run] = sorted(seen)  # a generation's prompts are asked together, answered in any order
    assert prompts["a"] == prompts["b"]


def test_resume_after_crash_mid_generation_repays_nothing(tmp_path, monkeypatch):
    fake.script("coder", cycling(GOOD))
    import discover.store.db as db

    real = db.Store.add_evaluation
    count = {"n": 0}

    def crashing(self, *a, **k):
        count["n"] += 1
        if count["n"] == 5:  # seed + 2 (gen 0) + 1 of gen 1, then the process "dies" mid-generation
            raise RuntimeError("simulated crash")
        return real(self, *a, **k)

    monkeypatch.setattr(db.Store, "add_evaluation", crashing)
    with pytest.raises(RuntimeError, match="simulated crash"):
        evolve(cfg(), runs_dir=tmp_path)
    monkeypatch.setattr(db.Store, "add_evaluation", real)
    store = Store(tmp_path)
    run = store.list_runs()[0]
    assert run.status == "crashed"
    calls_before = fake.stats("coder").calls
    pending = [c for c in store.candidates(run.id) if c.status == "pending"]
    assert pending  # its LLM answer was persisted before the crash

    s = evolve(cfg(), runs_dir=tmp_path, resume=run.id[:10])
    keys = paid_keys(store, run.id)
    assert len(keys) == len(set(keys))  # no prompt was paid for twice
    assert len(keys) == 2 + 3 + 3
    assert fake.stats("coder").calls - calls_before == len(keys) - calls_before
    assert s.status == "finished"
    assert all(c.status != "pending" for c in store.candidates(run.id))


def test_ctrl_c_stops_cleanly_keeps_everything_and_resumes(tmp_path):
    respond = cycling(GOOD)
    state = {"n": 0}

    def interrupting(messages):
        state["n"] += 1
        if state["n"] == 4:  # Ctrl-C while the 4th answer is being written (what the CLI's signal handler does)
            request_stop(signal.SIGINT)
        return respond(messages)

    fake.script("coder", interrupting)
    with pytest.raises(Interrupted, match=r"Resume with: discover evolve --resume \S+"):
        evolve(cfg(), runs_dir=tmp_path)
    store = Store(tmp_path)
    run = store.list_runs()[0]
    assert run.status == "stopped" and run.stop_reason == "interrupted (Ctrl-C)"
    kept = len(store.candidates(run.id))
    assert kept >= 3
    fake.script("coder", cycling(GOOD[2:]))
    s = evolve(cfg(), runs_dir=tmp_path, resume=run.id)
    assert s.status == "finished" and len(store.candidates(run.id)) == 1 + 2 + 3 + 3


def test_a_provider_that_keeps_failing_stops_the_run_with_its_error(tmp_path):
    from discover.errors import LLMCallFailed

    fake.script("coder", [fake.Fail("server")] * 50)
    with pytest.raises(LLMCallFailed, match="failed after"):
        evolve(cfg(llm_retries=0), runs_dir=tmp_path)
    run = Store(tmp_path).list_runs()[0]
    assert run.status == "stopped" and "failed after" in run.stop_reason


def test_prefilled_prompts_state_the_signature_once_and_stop_at_the_closing_fence_or_demo_code(tmp_path):
    seen = []

    def respond(messages):
        seen.append(messages)
        n = len(seen)
        if n % 2:
            return f"    # Idea: scale by {n}\n    return {n} * x\n```\nExample usage:\nprint(solve(2))\n"
        return f"    # Idea: scale by {n}\n    return {n} * x\n\n# Test the function\ndef test_solve():\n    assert solve(1)\n"

    fake.script("coder", respond)
    s = evolve(cfg(generations=1, population=3, prefill="on"), runs_dir=tmp_path)
    system, user, prefill = seen[0]
    assert prefill["role"] == "assistant" and "def solve(x" in prefill["content"]
    assert "def solve" not in user["content"]  # the signature and docstring are in the prefilled answer only
    cands = [c for c in Store(tmp_path).candidates(s.run_id) if c.operator != "seed"]
    assert cands and all(c.status == "evaluated" and "Example" not in c.code for c in cands)
    assert cands[0].thought == "scale by 1"
    calls = list(Store(tmp_path).llm_calls(s.run_id))
    assert calls and all(json.loads(r["params"])["stop"] == PREFILL_STOPS for r in calls)
    assert all("Example" not in r["response"] and "test_solve" not in r["response"] for r in calls)
    assert all("return" in r["response"] for r in calls)
