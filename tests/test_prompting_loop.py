"""The prompt-optimization loop with a scripted fake LLM: finds a planted better instruction, stores everything,
resumes without re-paying, stops at budgets, Ctrl-C -> Interrupted."""

from __future__ import annotations

import pytest

from discover.prompting import PromptConfig, run_prompt_job
from discover.prompting.engine import parse_instruction
from discover.run import Interrupted
from discover.store import Store
from tests.test_prompting_fakes import MAGIC, ScriptedGateway, make_task_file


def _config(tmp_path, **kw) -> PromptConfig:
    task = make_task_file(tmp_path / "opp.jsonl", 40)
    base = dict(task=str(task), start="Answer the question.", steps=3, candidates_per_step=2, minibatch=6,
                test_fraction=0.25, scorer="exact", exemplars=2, task_model="fake/task", optimizer_model="fake/opt")
    base.update(kw)
    return PromptConfig(**base)


def test_finds_planted_instruction_and_beats_start_on_test(tmp_path):
    cfg = _config(tmp_path)
    gw = ScriptedGateway()
    s = run_prompt_job(cfg, runs_dir=tmp_path / "runs", gateway=gw)
    assert s.status == "finished" and s.stop_reason == "all 3 steps done"
    assert s.best is not None and MAGIC in s.best.code
    assert s.best.train_score == 1.0
    assert s.start is not None and s.start.code == "Answer the question." and s.start.train_score < 0.5
    assert s.test_scores[s.best.id] == 1.0
    assert s.test_scores[s.start.id] < 0.5
    assert (s.n_train, s.n_test) == (30, 10)

    store = Store(tmp_path / "runs")
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
    # task calls are deterministic; the meta-prompt shows history ascending and the reflection on failures
    metas = [p for role, p in gw.prompts if role == "optimizer" and "<INS>" in p and "Accuracy:" in p]
    with_feedback = [p for p in metas if "Expected: anti-w" in p]
    assert with_feedback and "Analysis of what goes wrong: The model repeats" in with_feedback[0]
    assert "Expected: anti-w" not in metas[-1]  # the best (magic) instruction gets nothing wrong: no failures to show
    assert store.feedback_for(s.best.id)  # directional feedback stored per candidate


def test_history_is_ascending_best_last(tmp_path):
    cfg = _config(tmp_path, steps=4)
    gw = ScriptedGateway(magic_step=2)
    run_prompt_job(cfg, runs_dir=tmp_path / "runs", gateway=gw)
    metas = [p for role, p in gw.prompts if role == "optimizer" and "Accuracy:" in p]
    last = metas[-1]
    history = last.split("sorted from worst to best")[1].split("Here are examples")[0]
    scores = [int(line.split(":")[1].strip().rstrip("%")) for line in history.splitlines() if line.startswith("Accuracy:")]
    assert scores == sorted(scores) and scores[-1] == 100
    assert MAGIC in history.strip().splitlines()[-2]


def test_rerun_and_resume_repay_nothing(tmp_path):
    cfg = _config(tmp_path)
    cache: dict = {}
    full = ScriptedGateway(cache=cache)
    s1 = run_prompt_job(cfg, runs_dir=tmp_path / "a", gateway=full)
    assert full.paid > 0
    # the same job again (the gateway cache is shared through the store in real runs): nothing paid
    again = ScriptedGateway(cache=cache)
    s2 = run_prompt_job(cfg, runs_dir=tmp_path / "a", gateway=again)
    assert again.paid == 0 and s2.best.code == s1.best.code and s2.test_scores[s2.best.id] == 1.0

    # interrupted after a budget, then resumed: the two parts together pay exactly what one run pays
    cache2: dict = {}
    part1 = ScriptedGateway(cache=cache2, max_calls=25)
    s3 = run_prompt_job(cfg, runs_dir=tmp_path / "b", gateway=part1)
    assert s3.status == "stopped" and "budget" in s3.stop_reason
    part2 = ScriptedGateway(cache=cache2)
    s4 = run_prompt_job(cfg, runs_dir=tmp_path / "b", gateway=part2, resume=s3.run_id[:10], overrides={"max_llm_calls": None})
    assert s4.run_id == s3.run_id and s4.status == "finished"
    assert part1.paid + part2.paid == full.paid
    assert s4.best.code == s1.best.code
    codes = [c.code for c in Store(tmp_path / "b").candidates(s4.run_id)]
    assert codes == [c.code for c in Store(tmp_path / "a").candidates(s1.run_id)]


def test_ctrl_c_keeps_everything_and_resumes(tmp_path):
    cfg = _config(tmp_path)
    cache: dict = {}
    ref = ScriptedGateway(cache={})
    run_prompt_job(cfg, runs_dir=tmp_path / "ref", gateway=ref)
    first = ScriptedGateway(cache=cache, interrupt_after=40)
    with pytest.raises(Interrupted) as exc:
        run_prompt_job(cfg, runs_dir=tmp_path / "r", gateway=first)
    run_id = exc.value.context["run_id"]
    store = Store(tmp_path / "r")
    assert store.get_run(run_id).status == "stopped"
    assert "discover prompt --resume" in str(exc.value)
    second = ScriptedGateway(cache=cache)
    s = run_prompt_job(cfg, runs_dir=tmp_path / "r", gateway=second, resume=run_id)
    assert s.status == "finished" and MAGIC in s.best.code
    assert first.paid + second.paid == ref.paid


def test_budget_counts_task_calls_and_keeps_reserve_for_test(tmp_path):
    cfg = _config(tmp_path, max_llm_calls=60, steps=10)
    gw = ScriptedGateway(max_calls=60)
    s = run_prompt_job(cfg, runs_dir=tmp_path / "runs", gateway=gw)
    assert s.status == "stopped" and "LLM call budget of 60" in s.stop_reason
    assert gw.paid <= 60 and gw.paid_by_role["task"] > gw.paid_by_role.get("optimizer", 0)
    assert s.test_scores and all(v is not None for v in s.test_scores.values())


def test_wall_clock_budget(tmp_path):
    cfg = _config(tmp_path, timeout_s=1e-6, steps=5)
    s = run_prompt_job(cfg, runs_dir=tmp_path / "runs", gateway=ScriptedGateway())
    assert s.status == "stopped" and "wall-clock" in s.stop_reason
    assert s.start is not None and s.start.valid  # the start instruction is always scored


def test_resume_rejects_code_runs_and_finished_runs(tmp_path):
    from discover.errors import StoreError

    store = Store(tmp_path / "runs")
    rid = store.create_run(problem="tsp", problem_dir="x", kind="code", strategy="eoh", model="m", sandbox=None, config={})
    with pytest.raises(StoreError, match="not a prompt run"):
        run_prompt_job(_config(tmp_path), runs_dir=tmp_path / "runs", gateway=ScriptedGateway(), resume=rid)
    s = run_prompt_job(_config(tmp_path, steps=1), runs_dir=tmp_path / "runs", gateway=ScriptedGateway())
    with pytest.raises(StoreError, match="already finished"):
        run_prompt_job(_config(tmp_path), runs_dir=tmp_path / "runs", gateway=ScriptedGateway(), resume=s.run_id)


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
