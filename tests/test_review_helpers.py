"""Helpers for the review tests (no tests here): real runs in a real store, made quickly with the scripted
`fake/` LLM on the tiny `linear` fixture problem (hidden function 3x + 1, score = absolute error, minimize) and a
real prompt-optimization run, plus a run left 'running' by a dead process (shown as crashed)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from discover.config import RunConfig
from discover.llm import fake
from discover.prompting import PromptConfig, run_prompt_job
from discover.run import evolve
from discover.store import Store
from tests.loop_helpers import GOOD, LINEAR, answer, cycling
from tests.test_prompting_helpers import OproResponder, make_task_file

XSS = "<script>alert(1)</script>"
COST_A = 0.01  # what each LLM call of run A costs


@dataclass
class Built:
    runs_dir: Path
    run_a: str          # eoh, finds 3x+1 (score 0) and others
    run_b: str          # opro, later: finds 1+3x (ties with A's 3x+1) first, and A's 3x+1 again; XSS in a thought
    run_prompt: str     # prompt:opp run
    run_crashed: str    # 'running' with a dead pid
    best_a: str         # A's 3x+1
    tie_b: str          # B's 1+3x
    dup_b: str          # B's 3x+1 (same code as best_a)


def small(**kw) -> RunConfig:
    base = dict(problem=LINEAR, generations=2, population=3, llm_concurrency=1, workers=1, sandbox="process", seed=1,
                test_top_k=3)
    base.update(kw)
    return RunConfig(**base)


def dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def add_crashed_run(store: Store) -> str:
    rid = store.create_run(problem="linear", problem_dir=LINEAR, kind="code", strategy="eoh", model="fake/c",
                           sandbox="process", config={"problem": LINEAR}, run_id="crashed-run-0001")
    store.set_run_status(rid, "running", None, pid=dead_pid())
    return rid


def build(root: Path) -> Built:
    runs = root / "runs"
    fake.reset()
    fake.script("a", cycling(GOOD), cost_usd=COST_A)
    a = evolve(small(model="fake/a"), runs_dir=runs)
    fake.script("b", cycling([answer("return 1 + 3 * x", XSS), answer("return 3 * x + 1", "same as A"),
                              answer("return [x]", "use [x] as a list")]))
    b = evolve(small(model="fake/b", strategy="opro"), runs_dir=runs)
    fake.script("task", OproResponder())
    fake.script("opt", OproResponder())
    task = make_task_file(root / "opp.jsonl", 24)
    p = run_prompt_job(PromptConfig(task=str(task), start="Answer the question.", steps=2, candidates_per_step=2,
                                    minibatch=4, test_fraction=0.25, scorer="exact", exemplars=1, task_model="fake/task",
                                    optimizer_model="fake/opt"), runs_dir=runs)
    fake.reset()
    store = Store(runs)
    crashed = add_crashed_run(store)
    by_code = {(c.run_id, c.code.strip().splitlines()[-1].strip()): c.id for c in store.candidates()}
    return Built(runs_dir=runs, run_a=a.run_id, run_b=b.run_id, run_prompt=p.run_id, run_crashed=crashed,
                 best_a=by_code[(a.run_id, "return 3 * x + 1")], tie_b=by_code[(b.run_id, "return 1 + 3 * x")],
                 dup_b=by_code[(b.run_id, "return 3 * x + 1")])


_BUILT: dict[str, Built] = {}


def shared_store(tmp_path_factory) -> Built:
    """One store for every review test module (read-only use); built on first request."""
    if "store" not in _BUILT:
        _BUILT["store"] = build(tmp_path_factory.mktemp("review"))
    return _BUILT["store"]


def copy_of_linear(dest: Path) -> str:
    shutil.copytree(LINEAR, dest)
    return str(dest)
