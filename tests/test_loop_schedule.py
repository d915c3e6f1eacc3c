"""The steady-state schedule against the generational one, on the real gateway (scripted fake provider), the real
store and an in-process Evaluator (tests/loop_helpers.py): N proposals stay in flight, and a slow evaluation holds
back neither the LLM nor the other evaluations. Also the Python API, sync inside a running event loop."""

import asyncio

import pytest

import discover
from discover.config import RunConfig
from discover.engine import run_sync
from discover.llm import fake
from discover.store import Store
from tests.loop_helpers import LINEAR, InProcessEvaluator, answer, cycling


@pytest.fixture(autouse=True)
def _fresh():
    fake.reset()
    yield
    fake.reset()


def cfg(**kw):
    base = dict(problem=LINEAR, model="fake/coder", generations=4, population=4, llm_concurrency=4, seed=1,
                duplicate_retries=0, repair=False)
    base.update(kw)
    return RunConfig(**base)


def variants():
    state = {"n": 0}

    def respond(messages):
        state["n"] += 1
        return answer(f"return 3 * x + 1 + {state['n']} * 0.001", f"variant {state['n']}")

    return respond


def test_steady_keeps_n_proposals_in_flight(tmp_path):
    fake.script("coder", variants(), delay_s=0.3)
    s = run_sync(cfg(), runs_dir=tmp_path, evaluator=InProcessEvaluator())
    assert s.status == "finished"
    stats = fake.stats("coder")
    assert stats.calls == 4 * 4 - 1 and stats.max_in_flight == 4
    store = Store(tmp_path)
    assert {p.status for p in store.proposals(s.run_id)} == {"done"} and len(store.proposals(s.run_id)) == 15


@pytest.mark.parametrize("schedule", ["steady", "generational"])
def test_a_slow_evaluation_holds_back_only_the_generational_schedule(tmp_path, schedule):
    # The 2nd proposal's candidate takes 2 s to evaluate; LLM answers take 0.1 s.
    fake.script("coder", variants(), delay_s=0.1)
    slow = "+ 2 * 0.001"
    ev = InProcessEvaluator(lambda code: 2.0 if slow in code else 0.0)
    s = run_sync(cfg(schedule=schedule, llm_concurrency=2, generations=3, population=4), runs_dir=tmp_path,
                 evaluator=ev)
    assert s.status == "finished" and len(Store(tmp_path).candidates(s.run_id)) == 3 * 4
    slow_start, slow_end = next((start, end) for start, end, code in ev.log if slow in code)
    while_slow = [code for start, end, code in ev.log if slow_start < start and end < slow_end]
    if schedule == "steady":
        # while the straggler ran, the LLM kept answering and every later candidate was evaluated
        # (all but the seed, the first proposal and the straggler itself)
        assert len(while_slow) == 3 * 4 - 3
    else:
        # the generation waited for its straggler: at most its own siblings were evaluated meanwhile
        assert len(while_slow) <= 2


def test_sync_api_inside_a_running_event_loop(tmp_path):
    fake.script("coder", cycling([answer("return 3 * x + 1", "exact")]))

    async def notebook_cell():
        # what Jupyter does: the cell runs inside the kernel's event loop
        return discover.evolve(problem=LINEAR, model="fake/coder", generations=2, population=2, runs_dir=tmp_path,
                               evaluator=InProcessEvaluator())

    s = asyncio.run(notebook_cell())
    assert s.status == "finished" and s.best.train_score == 0.0
    assert Store(tmp_path).get_run(s.run_id).status == "finished"


def test_async_api(tmp_path):
    fake.script("coder", cycling([answer("return 3 * x + 1", "exact")]))
    s = asyncio.run(discover.evolve_async(problem=LINEAR, model="fake/coder", generations=2, population=2,
                                          runs_dir=tmp_path, evaluator=InProcessEvaluator()))
    assert s.status == "finished" and s.test_scores[s.best.id] == {"test_small": 0.0, "test_big": 0.0}
