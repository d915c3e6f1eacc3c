"""Leaderboards and run overviews on real runs in a real store (scripted fake LLM, the `linear` fixture problem,
a prompt-optimization run, a crashed run)."""

from __future__ import annotations

import shutil

import pytest

from discover.errors import ConfigError, StoreError
from discover.llm import fake
from discover.review.leaderboard import SCHEMA, LeaderboardRow, build_leaderboards, leaderboards_json, sort_key
from discover.review.problem_info import ProblemInfo
from discover.review.runs import overviews, runs_json
from discover.run import evolve
from discover.store import Store
from tests.loop_helpers import GOOD, cycling
from tests.test_prompting_helpers import MAGIC
from tests.test_review_helpers import COST_A, copy_of_linear, shared_store, small


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    return shared_store(tmp_path_factory)


@pytest.fixture(scope="module")
def store(built):
    return Store(built.runs_dir, create=False)


def board(store, problem, **kw):
    (b,) = build_leaderboards(store, problem=problem, **kw)
    return b


def test_ranks_candidates_of_all_runs_on_held_out_mean_with_seed_and_baselines(built, store):
    b = board(store, "linear")
    assert b.direction == "minimize" and b.instance_sets == ["test_small", "test_big"] and b.split == "test"
    assert set(b.runs) == {built.run_a, built.run_b, built.run_crashed}
    ranked = b.candidates
    assert [r.rank for r in ranked] == list(range(1, len(ranked) + 1))
    assert {r.run_id for r in ranked} == {built.run_a, built.run_b}
    # A's 3x+1 and B's 1+3x both score 0 everywhere: the earlier-found one ranks first
    assert (ranked[0].candidate_id, ranked[1].candidate_id) == (built.best_a, built.tie_b)
    assert ranked[0].scores == {"test_small": 0.0, "test_big": 0.0} and ranked[0].score == 0.0
    # B found A's code again: listed once
    assert built.dup_b not in {r.candidate_id for r in b.rows}
    seed = next(r for r in b.rows if r.kind == "seed")
    assert seed.rank is None and seed.operator == "seed" and seed.scores == {"test_small": 6.0, "test_big": 301.0}
    zero = next(r for r in b.rows if r.kind == "baseline")
    assert (zero.name, zero.score, zero.train_score) == ("zero", 154.0, None)
    # rows with a held-out mean, best first, then the rest by train score
    tiers = [r.score is None for r in b.rows]
    assert tiers == sorted(tiers)
    scored = [r.score for r in b.rows if r.score is not None]
    assert scored == sorted(scored)
    unscored = [r.train_score for r in b.rows if r.score is None and r.kind == "candidate"]
    assert unscored and unscored == sorted(unscored)
    assert b.rows.index(zero) < b.rows.index(next(r for r in b.rows if r.score is None))


def test_rows_carry_cost_of_the_call_that_found_them_and_code_size(built, store):
    b = board(store, "linear")
    for r in b.candidates:
        assert r.llm_cost_usd == pytest.approx(COST_A if r.run_id == built.run_a else 0.0)
        assert r.model == ("fake/a" if r.run_id == built.run_a else "fake/b")
        assert r.strategy == ("eoh" if r.run_id == built.run_a else "opro")
    best = b.candidates[0]
    code = store.get_candidate(best.candidate_id).code
    assert (best.code_lines, best.code_chars) == (len(code.splitlines()), len(code))
    seed = next(r for r in b.rows if r.kind == "seed")
    assert seed.llm_cost_usd is None and seed.model is None


def test_ties_break_on_train_score_then_creation_time_then_name():
    info = ProblemInfo(name="p", kind="code", direction="minimize", unit="", train_sets=["t"], test_sets=["s"])

    def row(name, score, train, created):
        return LeaderboardRow(rank=None, kind="candidate", name=name, score=score, scores={}, statuses={},
                              train_score=train, created_at=created)

    rows = [row("late", 1.0, 2.0, 20.0), row("b-same", 1.0, 2.0, 10.0), row("a-same", 1.0, 2.0, 10.0),
            row("better-train", 1.0, 1.5, 30.0), row("no-test-good-train", None, 0.1, 1.0), row("best", 0.5, 9.0, 40.0),
            row("nothing", None, None, 0.0)]
    order = [r.name for r in sorted(rows, key=sort_key(info))]
    assert order == ["best", "better-train", "a-same", "b-same", "late", "no-test-good-train", "nothing"]
    maximize = ProblemInfo(name="p", kind="code", direction="maximize", unit="", train_sets=["t"], test_sets=["s"])
    order = [r.name for r in sorted(rows, key=sort_key(maximize))]
    assert order == ["a-same", "b-same", "late", "better-train", "best", "no-test-good-train", "nothing"]


def test_same_store_gives_the_same_order_every_time(store):
    first = [r.name for r in board(store, "linear").rows]
    assert first == [r.name for r in board(store, "linear").rows]


def test_limit_keeps_the_top_candidates_and_every_baseline(store):
    b = board(store, "linear", limit=2)
    assert [r.rank for r in b.candidates] == [1, 2]
    assert {r.kind for r in b.rows} == {"candidate", "seed", "baseline", "reference"}
    ref = next(r for r in b.rows if r.kind == "reference")  # problem.toml [score] optimum
    assert ref.name == "optimum" and ref.scores == {"test_small": 0.0, "test_big": 0.0}


def test_split_train_and_one_instance_set(built, store):
    train = board(store, "linear", split="train")
    assert train.instance_sets == ["train"]
    assert all(r.score is not None for r in train.candidates)  # every valid candidate has a train score
    assert [r.score for r in train.candidates] == sorted(r.score for r in train.candidates)
    big = board(store, "linear", split="test_big")
    assert big.instance_sets == ["test_big"] and big.candidates[0].scores == {"test_big": 0.0}
    with pytest.raises(ConfigError, match="test_small"):
        board(store, "linear", split="nope")


def test_without_problem_one_leaderboard_per_problem(store):
    boards = build_leaderboards(store)
    assert [b.problem for b in boards] == ["linear", "prompt:opp"]


def test_unknown_problem_names_the_known_ones(store):
    with pytest.raises(StoreError, match=r"no runs of problem 'tsp'.*linear, prompt:opp"):
        build_leaderboards(store, problem="tsp")


def test_prompt_run_leaderboard_maximizes_accuracy_with_start_instruction_as_seed(built, store):
    b = board(store, "prompt:opp")
    assert (b.kind, b.direction, b.unit, b.instance_sets) == ("prompt", "maximize", "accuracy", ["test"])
    top = b.candidates[0]
    assert MAGIC in store.get_candidate(top.candidate_id).code and top.score == 1.0
    start = next(r for r in b.rows if r.kind == "seed")
    assert start.operator == "start" and start.score < top.score
    assert [r.kind for r in b.rows if r.kind in ("baseline", "reference")] == []


def test_json_schema_keys(built, store):
    data = leaderboards_json(build_leaderboards(store), str(built.runs_dir))
    assert data["schema"] == SCHEMA == "discover.leaderboard/1"
    assert set(data) == {"schema", "runs_dir", "leaderboards"}
    lb = data["leaderboards"][0]
    assert set(lb) == {"problem", "kind", "direction", "unit", "split", "instance_sets", "note", "runs", "rows"}
    assert set(lb["rows"][0]) == {"rank", "kind", "name", "candidate_id", "run_id", "model", "strategy", "operator",
                                  "generation", "score", "scores", "statuses", "train_score", "llm_cost_usd",
                                  "code_lines", "code_chars", "code_hash", "created_at"}


def test_runs_overview_status_budget_and_best_scores(built, store):
    rows = {r.id: r for r in overviews(store)}
    a = rows[built.run_a]
    assert (a.status, a.problem, a.model, a.strategy, a.direction) == ("finished", "linear", "fake/a", "eoh", "minimize")
    assert (a.llm_calls, a.generations_done) == (5, 1) and a.cost_usd == pytest.approx(5 * COST_A)
    assert a.prompt_tokens > 0 and a.completion_tokens > 0
    assert (a.best_train, a.best_train_id, a.best_test, a.best_test_id) == (0.0, built.best_a, 0.0, built.best_a)
    assert a.stop_reason == "all 2 generations done"
    crashed = rows[built.run_crashed]
    assert crashed.status == "crashed" and crashed.candidates == 0 and crashed.best_train is None
    p = rows[built.run_prompt]
    assert (p.kind, p.direction, p.best_test, p.best_train) == ("prompt", "maximize", 1.0, 1.0)
    data = runs_json(list(rows.values()), str(built.runs_dir))
    assert data["schema"] == "discover.runs/1" and len(data["runs"]) == 4
    assert {"id", "status", "problem", "model", "strategy", "llm_calls", "prompt_tokens", "completion_tokens", "cost_usd",
            "generations_done", "best_train", "best_test", "stop_reason"} <= set(data["runs"][0])


def test_problem_folder_gone_still_lists_without_baselines(tmp_path):
    problem_dir = copy_of_linear(tmp_path / "linear")
    fake.reset()
    fake.script("g", cycling(GOOD))
    run = evolve(small(model="fake/g", problem=problem_dir, generations=1), runs_dir=tmp_path / "runs")
    fake.reset()
    shutil.rmtree(problem_dir)
    (b,) = build_leaderboards(Store(tmp_path / "runs", create=False))
    assert b.note and "gone" in b.note and b.direction == "minimize"
    assert b.instance_sets == ["test_small", "test_big"]  # from the stored evaluations
    assert not [r for r in b.rows if r.kind == "baseline"]
    assert b.candidates and b.candidates[0].run_id == run.run_id
