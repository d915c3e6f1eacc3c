"""`discover evolve --problem tsp` end to end with a scripted LLM: the real TSP problem, sandbox, store and CLI."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from discover.config import RunConfig
from discover.llm import fake
from discover.run import evolve
from discover.store import Store

ROOT = Path(__file__).resolve().parent.parent

PULL_AWAY = """Thought: prefer near nodes that are far from the start, so the tour does not end with a long way home.
```python
import numpy as np

def select_next_node(current_node, destination_node, unvisited_nodes, distance_matrix):
    d = distance_matrix[current_node, unvisited_nodes]
    back = distance_matrix[destination_node, unvisited_nodes]
    return int(unvisited_nodes[np.argmin(d - 0.5 * back)])
```"""
REVISITS = """Thought: stay where we are.
```python
def select_next_node(current_node, destination_node, unvisited_nodes, distance_matrix):
    return current_node
```"""
PROSE = "I would pick the nearest node, but I cannot write code today."


@pytest.fixture(autouse=True)
def _fresh():
    fake.reset()
    yield
    fake.reset()


@pytest.mark.slow
def test_tsp_run_finds_a_better_heuristic_and_scores_it_on_every_test_set(tmp_path):
    prompts = []
    answers = iter([REVISITS, PROSE, PULL_AWAY])
    fake.script("tsp", lambda m: (prompts.append(m), next(answers, PULL_AWAY))[1])
    cfg = RunConfig(problem="tsp", model="fake/tsp", generations=2, population=3, llm_concurrency=1, workers=2,
                    sandbox="auto", seed=3, test_top_k=2, tune_budget=0, schedule="generational")
    # (no numeric tuning: this checks what the LLM's answers score; tsp's problem.toml turns tuning on)
    s = evolve(cfg, runs_dir=tmp_path)
    store = Store(tmp_path)
    seed = store.get_candidate(s.seed_id)
    assert s.status == "finished"
    assert seed.train_score == pytest.approx(23.15, abs=0.01)  # nearest neighbour on train50
    assert s.best.train_score == pytest.approx(13.42, abs=0.01)
    cands = store.candidates(s.run_id)
    by_status = {c.status for c in cands}
    assert "rejected" in by_status  # the prose answer: no code block
    revisit = next(c for c in cands if "return current_node" in c.code)
    ev = store.evaluations(revisit.id, "train")[0]
    assert ev.status == "invalid" and "already visited" in ev.error
    # Held-out: every test set, and the better heuristic beats nearest neighbour on each random set.
    tests = s.test_scores[s.best.id]
    assert set(tests) == {"test20", "test50", "test100", "test200", "tsplib"}
    for name in ("test20", "test50", "test100", "test200"):
        assert tests[name] < s.test_scores[s.seed_id][name]
    # The failures were fed back into a later prompt.
    later = "\n".join(m[-1]["content"] for m in prompts[1:])
    assert "already visited" in later


@pytest.mark.slow
def test_evolve_cli_on_tsp_prints_test_gaps_beside_the_baselines(tmp_path):
    responder = tmp_path / "responder.py"
    responder.write_text(f"ANSWER = {PULL_AWAY!r}\n\ndef respond(messages):\n    return ANSWER\n")
    env = {**os.environ, "DISCOVER_FAKE_RESPONDER": f"{responder}:respond", "COLUMNS": "200"}
    out = subprocess.run([sys.executable, "-m", "discover", "evolve", "--problem", "tsp", "--model", "fake/any",
                          "--generations", "2", "--population", "2", "--runs-dir", str(tmp_path), "--seed", "1"],
                         capture_output=True, text=True, env=env, cwd=ROOT, timeout=600)
    assert out.returncode == 0, out.stderr[-2000:]
    text = out.stdout
    for needle in ("test20", "test200", "tsplib", "nearest_neighbour", "farthest_insertion", str(tmp_path)):
        assert needle in text, needle
    run = Store(tmp_path).list_runs()[0]
    assert run.status == "finished" and run.problem == "tsp"
    assert json.loads(json.dumps(run.config))["generations"] == 2
