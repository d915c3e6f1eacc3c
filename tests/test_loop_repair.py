"""The repair operator: a candidate that raises gets one LLM repair attempt, shown its code and its trimmed error;
the repaired child is a candidate of its own (operator "repair", parent the failed one), never repaired again."""

import pytest

from discover.config import RunConfig
from discover.engine import run_sync
from discover.llm import fake
from discover.store import Store
from tests.loop_helpers import LINEAR, InProcessEvaluator, answer

BROKEN = answer("return 3 * x + 1 / 0", "shift by a ratio")
FIXED = answer("return 3 * x + 1", "shift by one")


@pytest.fixture(autouse=True)
def _fresh():
    fake.reset()
    yield
    fake.reset()


def test_a_crashing_candidate_is_repaired_once(tmp_path):
    seen = []
    state = {"n": 0}

    def respond(messages):
        prompt = messages[-1]["content"]
        seen.append(prompt)
        if "This heuristic failed" in prompt:
            return FIXED
        state["n"] += 1
        return BROKEN if state["n"] == 1 else answer(f"return 2 * x + {state['n']}", f"guess {state['n']}")

    fake.script("coder", respond)
    s = run_sync(RunConfig(problem=LINEAR, model="fake/coder", generations=2, population=3, llm_concurrency=1,
                           schedule="generational", seed=2), runs_dir=tmp_path, evaluator=InProcessEvaluator())
    store = Store(tmp_path)
    cands = store.candidates(s.run_id)
    broken = next(c for c in cands if "1 / 0" in c.code)
    assert broken.status == "evaluated" and not broken.valid
    repairs = [c for c in cands if c.operator == "repair"]
    assert len(repairs) == 1 and repairs[0].parent_ids == [broken.id]
    assert repairs[0].valid and repairs[0].train_score == 0.0 and s.best.id == repairs[0].id
    assert repairs[0].meta.get("repair_of") == broken.id
    prompt = next(p for p in seen if "This heuristic failed" in p)
    assert "ZeroDivisionError" in prompt and "1 / 0" in prompt
    assert "Stop doing" not in prompt.split("What went wrong:")[1].split("Fix the bug")[0]


def test_repair_can_be_turned_off(tmp_path):
    fake.script("coder", lambda m: BROKEN if "guess" not in str(m) else FIXED)
    s = run_sync(RunConfig(problem=LINEAR, model="fake/coder", generations=2, population=2, llm_concurrency=1,
                           repair=False, duplicate_retries=0), runs_dir=tmp_path, evaluator=InProcessEvaluator())
    assert all(c.operator != "repair" for c in Store(tmp_path).candidates(s.run_id))
