"""Prompt search (issue 19) through the real loop, gateway and run store, with scripted `fake/` models: the per-example
Pareto front, demo search finding a planted helpful demo, merge of two front members, prompts with parts, call
budgets by role (exact, also with concurrent calls), and resume re-paying nothing."""

from __future__ import annotations

import json
import random
import re

import pytest

from discover.archives import ARCHIVES, Member
from discover.llm import fake
from discover.prompting import PromptConfig, run_prompt_job
from discover.prompting.datasets import Example, load_task
from discover.prompting.parts import Demo, PromptParts, decode, encode, task_messages
from discover.prompting.rollouts import estimate
from discover.store import Store
from tests.test_prompting_helpers import calls, make_task_file

REFLECT_HEAD = "You are improving an instruction"
MERGE_HEAD = "You are combining two instructions"


@pytest.fixture(autouse=True)
def _fresh():
    fake.reset()
    yield
    fake.reset()


# -- what the scripted task model sees --------------------------------------------------------------------------
def task_view(messages: list[dict]) -> tuple[str, str, list[str]]:
    """(instruction, input, demo answers) of a task-model prompt rendered by the prompt target."""
    users = [m["content"] for m in messages if m["role"] == "user"]
    first = users[0].split("\n\n")
    instruction = first[0] if len(first) > 1 else ""
    word = users[-1].strip().splitlines()[-1].strip()
    return instruction, word, [m["content"] for m in messages if m["role"] == "assistant"]


def kind(messages: list[dict]) -> str:
    first = next(m["content"] for m in messages if m["role"] == "user")
    return "reflect" if first.startswith(REFLECT_HEAD) else "merge" if first.startswith(MERGE_HEAD) else "task"


def index(word: str) -> int:
    return int(word[1:]) if word[1:].isdigit() else -1


def _config(tmp_path, n: int = 24, **kw) -> PromptConfig:
    task = make_task_file(tmp_path / "opp.jsonl", n)
    base = dict(task=str(task), start="Answer the question.", steps=6, candidates_per_step=4, minibatch=6,
                test_fraction=0.25, scorer="exact", task_model="fake/task", optimizer_model="fake/opt",
                strategy="reflective", archive="pareto", demos=2)
    base.update(kw)
    return PromptConfig(**base)


def _train_calls(runs, run_id, train_inputs: set[str]) -> list[dict]:
    out = []
    for r in calls(runs, run_id, paid=True, role="task"):
        last = [m for m in json.loads(r["messages"]) if m["role"] == "user"][-1]["content"]
        if last.strip().splitlines()[-1].strip() in train_inputs:
            out.append(r)
    return out


# -- the Pareto front -------------------------------------------------------------------------------------------
def _member(cid: str, scores: dict[str, float], generation: int = 1) -> Member:
    avg = sum(scores.values()) / len(scores)
    return Member(id=cid, fingerprint=cid, score=avg, valid=True, generation=generation, slot=0, sort_key=-avg,
                  instances=scores)


def test_pareto_front_keeps_a_candidate_best_on_one_example():
    keys = [f"e{i}" for i in range(10)]
    generalist = _member("g", {k: (1.0 if i < 8 else 0.0) for i, k in enumerate(keys)})     # 0.8, misses e8 e9
    specialist = _member("s", {k: (1.0 if i == 9 else 0.0) for i, k in enumerate(keys)})    # 0.1, only e9
    dominated = _member("d", {k: (1.0 if i < 5 else 0.0) for i, k in enumerate(keys)})      # 0.5, below g everywhere
    archive = ARCHIVES["pareto"](population=1)
    for m in (generalist, specialist, dominated):
        archive.add(m)
    assert archive.wins() == {"g": 8, "s": 1}  # e8 is solved by nobody: not counted
    assert [m.id for m in archive.population_members()] == ["g", "s"]
    assert archive.best().id == "g" and [m.id for m in archive.members()] == ["g", "d", "s"]
    # the ranked archive of the same size keeps the best average only: the specialist is gone
    ranked = ARCHIVES["ranked"](population=1)
    for m in (generalist, specialist, dominated):
        ranked.add(m)
    assert [m.id for m in ranked.population_members()] == ["g"]
    # parents: from the front only, weighted by wins (8 : 1)
    rng = random.Random(0)
    draws = [archive.sample(1, rng)[0].id for _ in range(900)]
    assert set(draws) == {"g", "s"} and 0.05 < draws.count("s") / 900 < 0.2
    assert sorted(m.id for m in archive.sample(2, rng)) == ["g", "s"]
    # a tie keeps both; state() records the front and load() reads it back
    twin = _member("t", dict(specialist.instances))
    archive.add(twin)
    assert archive.wins() == {"g": 8, "s": 1, "t": 1}
    fresh = ARCHIVES["pareto"](population=1)
    fresh.load(json.loads(json.dumps(archive.state())))
    assert fresh.loaded_front == {"g": 8, "s": 1, "t": 1}
    # eligibility (the generational schedule) is applied before the front is computed
    late = _member("late", {k: 1.0 for k in keys}, generation=5)
    archive.add(late)
    assert archive.wins() == {"late": 10}  # it solves e8 too
    assert archive.wins(lambda m: m.generation < 5) == {"g": 8, "s": 1, "t": 1}


def test_pareto_front_for_minimized_scores():
    a = Member(id="a", fingerprint="a", score=2.0, valid=True, generation=1, slot=0, sort_key=2.0,
               instances={"x": 1.0, "y": 3.0})
    b = Member(id="b", fingerprint="b", score=2.5, valid=True, generation=1, slot=1, sort_key=2.5,
               instances={"x": 4.0, "y": 1.0})
    archive = ARCHIVES["pareto"](population=4)
    archive.add(a)
    archive.add(b)
    assert archive.wins() == {"a": 1, "b": 1} and archive.best().id == "a"


# -- prompts with parts -----------------------------------------------------------------------------------------
def test_parts_round_trip_and_render_demos_as_turns_leave_one_out():
    plain = "Answer with the larger animal."
    assert encode(decode(plain)) == plain and decode(plain).plain  # an instruction alone stays plain text
    parts = PromptParts(instruction="Name it.", system="Be brief.", format="One word.",
                        demos=(Demo("train-1", "cat, horse", "horse"), Demo("train-2", "ant, dog", "dog")))
    text = encode(parts)
    assert decode(text) == parts and encode(decode(text)) == text
    assert decode('{"not": "parts"}').instruction == '{"not": "parts"}'

    def first(head, x):
        return f"{head}\n\n{x}"

    msgs = task_messages(parts, Example("train-9", "ox, bee", "ox"), first)
    assert [m["role"] for m in msgs] == ["system", "user", "assistant", "user", "assistant", "user"]
    assert msgs[1]["content"] == "Name it.\nOne word.\n\ncat, horse" and msgs[-1]["content"] == "ox, bee"
    own = task_messages(parts, Example("train-1", "cat, horse", "horse"), first)  # a demo never answers itself
    assert [m["content"] for m in own if m["role"] == "assistant"] == ["dog"]


def test_rollout_estimate():
    e = estimate(20, 30, minibatch=10, test_top_k=1, max_task_calls=200, strategy="reflective")
    assert (e.screened, e.promoted, e.held_out, e.candidates) == (10, 20, 60, (10, 20))
    assert "10 task calls per candidate screened out" in e.text() and "10-20 candidates" in e.text()


# -- demo search ------------------------------------------------------------------------------------------------
def test_demo_search_finds_a_planted_helpful_demo(tmp_path):
    cfg = _config(tmp_path)
    task = load_task(cfg.task, seed=0, test_fraction=0.25)
    planted = task.train[7]

    def task_model(messages):
        instruction, word, answers = task_view(messages)
        return f"anti-{word}" if planted.target in answers else word  # right only with the planted demo shown

    def optimizer(messages):  # instructions that never help
        return f"<INS>Answer the question well (try {random.random():.6f}).</INS>"

    fake.script("task", task_model)
    fake.script("opt", optimizer)
    s = run_prompt_job(cfg, runs_dir=tmp_path / "runs")
    best = decode(s.best.code)
    assert planted.id in [d.id for d in best.demos]
    n = len(task.train)
    assert s.best.train_score == pytest.approx((n - 1) / n)  # leave-one-out: the planted example is not its own demo
    assert s.test_scores[s.best.id] == 1.0 and s.test_scores[s.start.id] == 0.0
    ops = {c.operator for c in Store(tmp_path / "runs").candidates(s.run_id)}
    assert {"demos", "reflect"} <= ops
    # a demo move makes no LLM call: its candidate has no call key, and every optimizer call was a reflection/merge
    opt_calls = calls(tmp_path / "runs", s.run_id, paid=True, role="optimizer")
    assert all(kind(json.loads(r["messages"])) in ("reflect", "merge") for r in opt_calls)


# -- merge ------------------------------------------------------------------------------------------------------
def test_merge_combines_two_front_members(tmp_path):
    cfg = _config(tmp_path, start="Use EVEN.", minibatch=100, steps=3)

    def task_model(messages):
        instruction, word, _ = task_view(messages)
        k = index(word)
        right = ("EVEN" in instruction and k % 2 == 0) or ("ODD" in instruction and k % 2 == 1)
        return f"anti-{word}" if right else word

    merges: list[str] = []

    def optimizer(messages):
        if kind(messages) == "merge":
            prompt = messages[0]["content"]
            merges.append(prompt)
            a, b = re.findall(r"<INS>(.*?)</INS>", prompt, re.S)[:2]
            return f"<INS>{a} {b}</INS>"
        return "<INS>Use ODD.</INS>"

    fake.script("task", task_model)
    fake.script("opt", optimizer)
    s = run_prompt_job(cfg, runs_dir=tmp_path / "runs")
    store = Store(tmp_path / "runs")
    cands = {c.id: c for c in store.candidates(s.run_id)}
    merged = [c for c in cands.values() if c.operator == "merge" and c.train_score == 1.0]
    assert merged and s.best.train_score == 1.0 and s.test_scores[s.best.id] == 1.0
    m = merged[0]
    parents = {decode(cands[p].code).instruction for p in m.parent_ids}
    assert parents == {"Use EVEN.", "Use ODD."}
    assert {"EVEN", "ODD"} <= set(decode(m.code).instruction.replace(".", " ").split())
    # the merge prompt showed, for each parent, examples only it gets right
    assert merges and "Examples A gets right and B gets wrong:" in merges[0] and "anti-w" in merges[0]
    # both halves were in the Pareto front the merge drew from (each wins the examples of its parity)
    state = store.load_archive_state(s.run_id)
    assert state["archive"] == "pareto" and s.best.id in state["front"]


# -- budgets in calls -------------------------------------------------------------------------------------------
def _counting(task_fn=None):
    def task_model(messages):
        instruction, word, _ = task_view(messages)
        return f"anti-{word}" if index(word) % 3 == 0 else word

    def optimizer(messages):
        return f"<INS>Answer the question (try {random.random():.6f}).</INS>"

    return task_fn or task_model, optimizer


@pytest.mark.parametrize("schedule,concurrency", [("generational", 2), ("steady", 4)])
def test_task_and_optimizer_budgets_are_exact(tmp_path, schedule, concurrency):
    cfg = _config(tmp_path, steps=50, max_task_calls=121, max_optimizer_calls=2, schedule=schedule,
                  llm_concurrency=concurrency)
    t, o = _counting()
    fake.script("task", t, delay_s=0.005)
    fake.script("opt", o)
    s = run_prompt_job(cfg, runs_dir=tmp_path / "runs")
    task = load_task(cfg.task, seed=0, test_fraction=0.25)
    assert s.status == "stopped" and s.stop_reason == "task call budget of 121 reached"
    assert len(_train_calls(tmp_path / "runs", s.run_id, {e.input for e in task.train})) == 121
    assert len(calls(tmp_path / "runs", s.run_id, paid=True, role="optimizer")) == 2
    # the optimizer budget ran out first; the search went on with demo moves, which need no optimizer
    fallbacks = [c for c in Store(tmp_path / "runs").candidates(s.run_id) if "optimizer call budget" in
                 str((c.meta or {}).get("fallback", ""))]
    assert fallbacks and all(c.operator in ("demos", "merge") for c in fallbacks)
    # held-out scoring is not counted against the task budget, and it happened
    assert s.test_scores and all(v is not None for v in s.test_scores.values())


def test_optimizer_budget_stops_opro(tmp_path):
    cfg = _config(tmp_path, steps=50, strategy="opro", archive="ranked", max_optimizer_calls=4, feedback=False)
    t, o = _counting()
    fake.script("task", t)
    fake.script("opt", o)
    s = run_prompt_job(cfg, runs_dir=tmp_path / "runs")
    assert s.status == "stopped" and "optimizer call budget of 4 reached" in s.stop_reason
    assert len(calls(tmp_path / "runs", s.run_id, paid=True, role="optimizer")) == 4


def test_resume_after_task_budget_repays_nothing(tmp_path):
    cfg = _config(tmp_path, steps=4, max_task_calls=None)
    task = load_task(cfg.task, seed=0, test_fraction=0.25)
    train_inputs = {e.input for e in task.train}

    def script():
        t, _ = _counting()
        counter = {"n": 0}

        def optimizer(messages):  # answers depend on the prompt only, as a cached model's would
            return f"<INS>Answer the question ({len(messages[0]['content']) % 97}).</INS>"

        fake.script("task", t)
        fake.script("opt", optimizer)
        return counter

    script()
    a = tmp_path / "a"
    full = run_prompt_job(cfg, runs_dir=a)
    assert full.status == "finished"
    full_search = len(_train_calls(a, full.run_id, train_inputs))
    full_opt = len(calls(a, full.run_id, paid=True, role="optimizer"))
    assert full_search > 40 and full_opt > 0

    # the same job again in the same runs dir: nothing is paid
    fake.reset()
    script()
    again = run_prompt_job(cfg, runs_dir=a)
    assert calls(a, again.run_id, paid=True) == [] and fake.stats("task").calls == 0
    assert again.best.code == full.best.code

    # stopped by the task budget (after held-out scoring), then resumed with a larger one: the search pays exactly what
    # one uninterrupted run pays and makes the same candidates
    fake.reset()
    script()
    b = tmp_path / "b"
    part = run_prompt_job(cfg.model_copy(update={"max_task_calls": 40}), runs_dir=b)
    assert part.status == "stopped" and "task call budget of 40" in part.stop_reason
    assert len(_train_calls(b, part.run_id, train_inputs)) == 40
    done = run_prompt_job(cfg, runs_dir=b, resume=part.run_id, overrides={"max_task_calls": full_search})
    assert done.run_id == part.run_id and done.status == "finished"
    assert len(_train_calls(b, part.run_id, train_inputs)) == full_search
    assert len(calls(b, part.run_id, paid=True, role="optimizer")) == full_opt
    codes = lambda runs, rid: sorted(c.code for c in Store(runs).candidates(rid))  # noqa: E731
    assert codes(b, part.run_id) == codes(a, full.run_id)
