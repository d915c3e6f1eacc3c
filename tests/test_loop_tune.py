"""The tune operator wired into the loop: a valid candidate in the archive's top gets its constants tuned on the
evaluator's capacity (no LLM call); a better tuned version becomes its child with operator "tune"."""

import pytest

from discover.config import RunConfig
from discover.engine import run_sync
from discover.llm import fake
from discover.store import Store
from tests.loop_helpers import LINEAR, answer


@pytest.fixture(autouse=True)
def _fresh():
    fake.reset()
    yield
    fake.reset()


def test_a_top_candidate_is_tuned_into_a_better_child(tmp_path):
    fake.script("coder", [answer("return 2.5 * x + 0.5", "a line")])
    s = run_sync(RunConfig(problem=LINEAR, model="fake/coder", generations=1, population=2, llm_concurrency=1,
                           sandbox="process", tune_budget=40, tune_top=1, seed=3), runs_dir=tmp_path)
    store = Store(tmp_path)
    cands = store.candidates(s.run_id)
    line = next(c for c in cands if "2.5 * x" in c.code)
    tuned = [c for c in cands if c.operator == "tune"]
    assert fake.stats("coder").calls == 1  # tuning made no LLM call
    assert line.meta["tuning"]["done"] is True
    assert len(tuned) == 1 and tuned[0].parent_ids == [line.id] and tuned[0].valid
    assert tuned[0].train_score < line.train_score and s.best.id == tuned[0].id
    assert line.meta["tuning"]["improved"] is True and "tune" in tuned[0].meta
    assert s.stats.tune_evaluations > 0
