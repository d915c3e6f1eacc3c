"""The prompt-optimization loop end to end through the real gateway (scripted `fake/` provider, the run store's
call log): finds a planted better instruction, stores everything, reruns and resumes without re-paying, stops at
budgets, Ctrl-C -> Interrupted."""

from __future__ import annotations

import json

import pytest

from discover.llm import fake
from discover.prompting import PromptConfig, run_prompt_job
from discover.targets.prompt import parse_instruction
from discover.run import Interrupted
from discover.store import Store
from tests.test_prompting_helpers import ANALYSIS, MAGIC, OproResponder, calls, make_task_file, prompts


@pytest.fixture(autouse=True)
def _fresh():
    fake.reset()
    yield
    fake.reset()


def _config(tmp_path, **kw) -> PromptConfig:
    task = make_task_file(tmp_path / "opp.jsonl", 40)
    base = dict(task=str(task), start="Answer the question.", steps=3, candidates_per_step=2, minibatch=6,
                test_fraction=0.25, scorer="exact", exemplars=2, task_model="fake/task", optimizer_model="fake/opt")
    base.update(kw)
    return PromptConfig(**base)


def _script(responder: OproResponder, cost_usd: float = 0.0) -> OproResponder:
    fake.script("task", responder, cost_usd=cost_usd)
    fake.script("opt", responder, cost_usd=cost_usd)
    return responder


def _fake_calls() -> int:
    return fake.stats("task").calls + fake.stats("opt").calls


def _by_generation(store: Store, run_id: str) -> list[tuple[int, list[str]]]:
    # slots of one step ask concurrently, so which slot got which proposal may differ between runs; compare per step
    out: dict[int, list[str]] = {}
    for c in store.candidates(run_id):
        out.setdefault(c.generation, []).append(c.code)
    return sorted((g, sorted(codes)) for g, codes in out.items())


def test_finds_planted_instruction_and_beats_start_on_test(tmp_path):
    cfg = _config(tmp_path)
    responder = _script(OproResponder())
    runs = tmp_path / "runs"
    s = run_prompt_job(cfg, runs_dir=runs)
    assert s.status == "finished" and s.stop_reason == "all 3 steps done"
    assert s.best is not None and MAGIC in s.best.code
    assert s.best.train_score == 1.0
    assert s.start is not None and s.start.code == "Answer the question." and s.start.train_score < 0.5
    assert s.test_scores[s.best.id] == 1.0
    assert s.test_scores[s.start.id] < 0.5
    assert (s.n_train, s.n_test) == (30, 10)

    store = Store(runs)
    run = store.get_run(s.run_id)
    assert run.kind == "prompt" and run.problem == "prompt:opp" and run.status == "finished"
    cands = store.candidates(s.run_id)
    assert cands[0].operator == "start" and len(cands) == 1 + 3 * 2
    # every evaluation: per-example metrics (score + output) by split
    best_train = [e for e in store.evaluations(s.best.id, "train") if e.instance_set == "train"][0]
    assert len(best_train.instances) == 30
    assert all(set(v) >= {"score", "output"} for v in best_train.instances.values())
    assert len(store.evaluations(s.best.id, "test")[0].instances) == 10
    # the screened-out ones stopped after the minibatch, with a reason
    screened = [c for c in cands if c.status == "evaluated" and not c.valid]
    assert screened and all("screened out" in c.reject_reason for c in screened)
    assert all({e.instance_set for e in store.evaluations(c.id)} == {"minibatch"} for c in screened)
    # every call went through the gateway into the store: one row per answered call, by role, with its proposal key
    paid = calls(runs, s.run_id, paid=True)
    assert len(paid) == responder.calls == _fake_calls() == s.stats.llm_calls
    assert len(calls(runs, s.run_id, paid=True, role="task")) == responder.kinds["task"] == s.stats.task_calls
    assert {c.llm_call_key for c in cands[1:]} <= {r["key"] for r in paid}
    assert all(r["params"] == '{"max_tokens": 128, "temperature": 0.0}' and r["sample_index"] == 0
               for r in calls(runs, s.run_id, role="task"))
    # the meta-prompt shows the reflection on the best's failures; the magic instruction has none to show
    metas = [p for p in prompts(runs, s.run_id, "optimizer") if "<INS>" in p and "Accuracy:" in p]
    assert len(metas) == 3 * 2 and responder.kinds["meta"] == 6
    with_feedback = [p for p in metas if "Expected: anti-w" in p]
    assert with_feedback and f"Analysis of what goes wrong: {ANALYSIS}" in with_feedback[0]
    assert "Expected: anti-w" not in metas[-1]
    assert MAGIC not in ANALYSIS  # the planted instruction came from the meta-prompt, not the reflection
    # an in-process optimizer's answer starts like a history item, inside <INS>, and stops at </INS>
    meta_calls = [r for r in calls(runs, s.run_id, paid=True, role="optimizer") if "Accuracy:" in r["messages"]]
    assert len(meta_calls) == 6
    assert all(json.loads(r["messages"])[-1] == {"role": "assistant", "content": "Instruction: <INS>"} for r in meta_calls)
    assert all(json.loads(r["params"])["stop"] == ["</INS>"] and "</INS>" not in r["response"] for r in meta_calls)
    assert store.feedback_for(s.best.id)  # directional feedback stored per candidate


def test_history_is_ascending_best_last(tmp_path):
    cfg = _config(tmp_path, steps=4)
    _script(OproResponder(magic_step=2))
    s = run_prompt_job(cfg, runs_dir=tmp_path / "runs")
    metas = [p for p in prompts(tmp_path / "runs", s.run_id, "optimizer") if "Accuracy:" in p]
    last = metas[-1]
    history = last.split("sorted from worst to best")[1].split("Here are examples")[0]
    scores = [int(line.split(":")[1].strip().rstrip("%")) for line in history.splitlines() if line.startswith("Accuracy:")]
    assert len(scores) >= 4 and scores == sorted(scores) and scores[-1] == 100
    assert MAGIC in history.strip().splitlines()[-2]


def test_rerun_and_resume_repay_nothing(tmp_path):
    cfg = _config(tmp_path)
    _script(OproResponder())
    a = tmp_path / "a"
    s1 = run_prompt_job(cfg, runs_dir=a)
    full = len(calls(a, s1.run_id, paid=True))
    assert full > 0 and _fake_calls() == full
    # the same job again in the same runs dir: every answer comes from the store's call cache, nothing is paid
    s2 = run_prompt_job(cfg, runs_dir=a)
    assert s2.run_id != s1.run_id
    assert _fake_calls() == full and calls(a, s2.run_id, paid=True) == []
    assert len(calls(a, s2.run_id, paid=False)) == full and s2.stats.cached_calls == full and s2.stats.llm_calls == 0
    assert s2.best.code == s1.best.code and s2.test_scores[s2.best.id] == 1.0

    # stopped by the gateway's call budget, then resumed: the two parts together pay exactly what one run pays
    _script(OproResponder())
    b = tmp_path / "b"
    s3 = run_prompt_job(cfg.model_copy(update={"max_llm_calls": 25}), runs_dir=b)
    assert s3.status == "stopped" and "budget of 25" in s3.stop_reason
    assert len(calls(b, s3.run_id, paid=True)) == 25 == _fake_calls()
    s4 = run_prompt_job(cfg, runs_dir=b, resume=s3.run_id[:10], overrides={"max_llm_calls": None})
    assert s4.run_id == s3.run_id and s4.status == "finished"
    assert len(calls(b, s3.run_id, paid=True)) == full == _fake_calls()
    assert s4.best.code == s1.best.code and MAGIC in s4.best.code
    assert _by_generation(Store(b), s4.run_id) == _by_generation(Store(a), s1.run_id)


def test_ctrl_c_keeps_everything_and_resumes(tmp_path):
    cfg = _config(tmp_path)
    _script(OproResponder())
    ref = run_prompt_job(cfg, runs_dir=tmp_path / "ref")
    ref_paid = len(calls(tmp_path / "ref", ref.run_id, paid=True))

    responder = _script(OproResponder(interrupt_after=40))  # Ctrl-C during the 41st call
    with pytest.raises(Interrupted) as exc:
        run_prompt_job(cfg, runs_dir=tmp_path / "r")
    run_id = exc.value.context["run_id"]
    store = Store(tmp_path / "r")
    run = store.get_run(run_id)
    assert run.status == "stopped" and run.stop_reason == "interrupted (Ctrl-C)"
    assert "discover prompt --resume" in str(exc.value)
    kept = len(calls(tmp_path / "r", run_id, paid=True))
    assert 40 < kept < ref_paid and store.candidates(run_id)  # the 41st answer (and any in flight) kept

    responder.interrupt_after = None  # the same responder goes on, as the same model would
    s = run_prompt_job(cfg, runs_dir=tmp_path / "r", resume=run_id)
    assert s.run_id == run_id and s.status == "finished" and MAGIC in s.best.code
    assert len(calls(tmp_path / "r", run_id, paid=True)) == ref_paid
    assert _by_generation(store, run_id) == _by_generation(Store(tmp_path / "ref"), ref.run_id)


def test_budget_counts_task_calls_and_keeps_reserve_for_test(tmp_path):
    cfg = _config(tmp_path, max_llm_calls=60, steps=10)
    _script(OproResponder())
    s = run_prompt_job(cfg, runs_dir=tmp_path / "runs")
    assert s.status == "stopped" and "LLM call budget of 60" in s.stop_reason
    paid = calls(tmp_path / "runs", s.run_id, paid=True)
    task = [r for r in paid if r["role"] == "task"]
    assert len(paid) <= 60 and len(task) > len(paid) - len(task)
    assert fake.stats("task").calls == len(task)
    assert s.test_scores and all(v is not None for v in s.test_scores.values())


def test_cost_budget(tmp_path):
    cfg = _config(tmp_path, max_cost_usd=0.5, steps=10)
    _script(OproResponder(), cost_usd=0.01)
    s = run_prompt_job(cfg, runs_dir=tmp_path / "runs")
    assert s.status == "stopped" and "cost budget of $0.5" in s.stop_reason
    paid = calls(tmp_path / "runs", s.run_id, paid=True)
    assert sum(r["cost_usd"] for r in paid) <= 0.5 + 1e-9 and s.stats.cost_usd == pytest.approx(0.01 * len(paid))
    assert s.test_scores and all(v is not None for v in s.test_scores.values())


def test_wall_clock_budget(tmp_path):
    cfg = _config(tmp_path, timeout_s=1e-6, steps=5)
    responder = _script(OproResponder())
    s = run_prompt_job(cfg, runs_dir=tmp_path / "runs")
    assert s.status == "stopped" and "wall-clock" in s.stop_reason
    assert s.start is not None and s.start.valid  # the start instruction is always scored
    assert responder.kinds["meta"] == 0


def test_resume_rejects_code_runs_and_finished_runs(tmp_path):
    from discover.errors import StoreError

    _script(OproResponder())
    store = Store(tmp_path / "runs")
    rid = store.create_run(problem="tsp", problem_dir="x", kind="code", strategy="eoh", model="m", sandbox=None, config={})
    with pytest.raises(StoreError, match="not a prompt run"):
        run_prompt_job(_config(tmp_path), runs_dir=tmp_path / "runs", resume=rid)
    s = run_prompt_job(_config(tmp_path, steps=1), runs_dir=tmp_path / "runs")
    with pytest.raises(StoreError, match="already finished"):
        run_prompt_job(_config(tmp_path), runs_dir=tmp_path / "runs", resume=s.run_id)


@pytest.mark.parametrize("text,want", [
    ("<INS>Be brief.</INS>", "Be brief."),
    ("Here: <INS>first</INS> and <INS> second </INS>", "second"),
    ('"Quoted instruction."', "Quoted instruction."),
    ("Instruction: Do it.", "Do it."),
    ("<INS>unterminated", "unterminated"),
    ("", ""),
])
def test_parse_instruction(text, want):
    assert parse_instruction(text) == want
