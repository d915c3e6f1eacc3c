"""Prompt targets on the one loop: a dead task-model provider stops the run after three failures in a row (stopped,
resumable; no instruction scored 0 % for it), and a prompt problem folder (kind = "prompt") runs with
`discover evolve --problem <folder>`."""

import json

import pytest
from typer.testing import CliRunner

from discover.errors import LLMCallFailed
from discover.llm import fake
from discover.prompting import PromptConfig, run_prompt_job
from discover.store import Store
from tests.test_prompting_helpers import MAGIC, OproResponder, calls, make_task_file


@pytest.fixture(autouse=True)
def _fresh():
    fake.reset()
    yield
    fake.reset()


def _config(tmp_path, **kw) -> PromptConfig:
    task = make_task_file(tmp_path / "opp.jsonl", 40)
    base = dict(task=str(task), start="Answer the question.", steps=2, candidates_per_step=2, minibatch=6,
                test_fraction=0.25, scorer="exact", exemplars=2, task_model="fake/task", optimizer_model="fake/opt",
                llm_retries=0)
    base.update(kw)
    return PromptConfig(**base)


def test_a_dead_task_model_stops_the_run_and_it_resumes(tmp_path):
    responder = OproResponder()
    fake.script("task", [fake.Fail("server", "down")] * 100)
    fake.script("opt", responder)
    runs = tmp_path / "runs"
    with pytest.raises(LLMCallFailed, match="failed after 1 attempt"):
        run_prompt_job(_config(tmp_path), runs_dir=runs)
    store = Store(runs)
    run = store.list_runs()[0]
    assert run.status == "stopped" and "failed after" in run.stop_reason
    start = store.candidates(run.id)[0]
    assert start.status == "pending" and store.evaluations(start.id) == []  # not scored 0 %: not scored at all
    assert fake.stats("task").calls <= 6  # stopped at the third failure in a row (calls in flight then also failed)
    assert responder.kinds["meta"] == 0

    fake.script("task", responder)  # the provider is back
    s = run_prompt_job(_config(tmp_path), runs_dir=runs, resume=run.id)
    assert s.run_id == run.id and s.status == "finished"
    assert s.start.train_score is not None and 0 < s.start.train_score < 0.5
    assert s.best.train_score == 1.0 and MAGIC in s.best.code


def test_prompt_problem_folder_runs_with_evolve(tmp_path):
    from discover.cli import app

    folder = tmp_path / "opposites"
    folder.mkdir()
    make_task_file(folder / "train.jsonl", 30)
    rows = [json.dumps({"input": f"w{k}", "target": f"anti-w{k}"}) for k in range(100, 110)]
    (folder / "test.jsonl").write_text("\n".join(rows) + "\n")
    (folder / "seed.txt").write_text("Answer the question.\n")
    (folder / "problem.toml").write_text('name = "opposites"\nkind = "prompt"\ndescription = "Say the opposite."\n'
                                         '[task]\nscorer = "exact"\ntask_model = "fake/x"\n')
    responder = OproResponder()
    fake.script("x", responder)
    res = CliRunner().invoke(app, ["evolve", "--problem", str(folder), "--model", "fake/x",  # opro: the default here
                                   "--generations", "3", "--population", "2", "--schedule", "generational",
                                   "--runs-dir", str(tmp_path / "runs"), "--progress", "quiet"], terminal_width=200)
    assert res.exit_code == 0, res.output
    assert "Stopped: all 3 steps done." in res.output
    run = Store(tmp_path / "runs").list_runs()[0]
    assert run.kind == "prompt" and run.problem == "prompt:opposites" and run.status == "finished"
    assert run.strategy == "opro" == run.config["strategy"]  # a prompt target's default strategy
    cands = Store(tmp_path / "runs").candidates(run.id)
    assert cands[0].operator == "start" and cands[0].code == "Answer the question." and len(cands) == 1 + 3 * 2
    best = max((c for c in cands if c.valid), key=lambda c: c.train_score)
    assert MAGIC in best.code and best.train_score == 1.0
    assert {r["role"] for r in calls(tmp_path / "runs", run.id, paid=True)} == {"task", "optimizer"}
    test = Store(tmp_path / "runs").evaluations(best.id, "test")
    assert test and test[0].score == 1.0 and len(test[0].instances) == 10


def test_optimize_prompt_api_takes_prompt_keys_flat(tmp_path):
    import discover

    task = make_task_file(tmp_path / "opp.jsonl", 40)
    fake.script("x", OproResponder())
    s = discover.optimize_prompt(str(task), model="fake/x", task_model="fake/x", start="Answer the question.",
                                 generations=3, population=2, minibatch=6, test_fraction=0.25, scorer="exact",
                                 schedule="generational", runs_dir=tmp_path / "runs")
    assert s.status == "finished" and s.kind == "prompt" and MAGIC in s.best.code
    assert s.test_scores[s.best.id] == {"test": 1.0}
    run = Store(tmp_path / "runs").get_run(s.run_id)
    assert run.strategy == "opro" and run.config["prompt"]["minibatch"] == 6
    # resume with a larger budget: settings are the overrides
    more = discover.optimize_prompt(resume=s.run_id, generations=4, runs_dir=tmp_path / "runs")
    assert more.run_id == s.run_id and more.status == "finished"
    assert len(Store(tmp_path / "runs").candidates(s.run_id)) == 1 + 4 * 2
