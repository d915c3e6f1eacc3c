"""The program target end to end: `discover evolve --problem circle_packing` with a scripted LLM whose answers are
SEARCH/REPLACE edits of program.py's EVOLVE block (the real problem, sandbox, store and loop)."""

from pathlib import Path

import pytest

from discover.config import RunConfig
from discover.extract import MalformedOutput
from discover.llm import fake
from discover.programs import Program
from discover.run import evolve
from discover.store import Store

ROOT = Path(__file__).resolve().parent.parent

OUTSIDE = """Thought: use a faster LP solver import.
<<<<<<< SEARCH
from scipy.optimize import linprog
=======
from scipy.optimize import linprog, minimize
>>>>>>> REPLACE"""

# A 5 x 5 grid leaves its 26th circle with radius 0; in a hole of the grid it gets sqrt(2) - 1 of a grid radius.
HOLES = """Thought: also try a square grid with the remaining circles in its holes.
<<<<<<< SEARCH
    return best
=======
    k = int(np.sqrt(n))
    grid = [((i + 0.5) / k, (j + 0.5) / k) for i in range(k) for j in range(k)]
    holes = [((i + 1) / k, (j + 1) / k) for i in range(k - 1) for j in range(k - 1)]
    centers = np.array(grid + holes[: n - len(grid)], dtype=float)
    radii = max_radii(centers)
    if radii.sum() > best[1].sum():
        best = (centers, radii)
    return best
>>>>>>> REPLACE"""

NOT_FOUND = """Thought: more rows.
<<<<<<< SEARCH
    for rows in range(3, 12):
=======
    for rows in range(3, 14):
>>>>>>> REPLACE"""


@pytest.fixture(autouse=True)
def _fresh():
    fake.reset()
    yield
    fake.reset()


def test_circle_packing_evolves_its_program_by_diff_edits(tmp_path):
    prompts = []
    answers = iter([OUTSIDE, HOLES, NOT_FOUND])
    fake.script("cp", lambda m: (prompts.append(m), next(answers, NOT_FOUND))[1])
    cfg = RunConfig(problem="circle_packing", model="fake/cp", generations=2, population=2, llm_concurrency=1,
                    workers=1, sandbox="auto", seed=1, test_top_k=1, schedule="generational")
    s = evolve(cfg, runs_dir=tmp_path)
    store = Store(tmp_path)
    assert s.status == "finished"
    seed = store.get_candidate(s.seed_id)
    assert seed.train_score == pytest.approx(2.5, abs=1e-6)  # program.py's row layouts
    assert Program.from_text(seed.code).files["program.py"] == (ROOT / "problems/circle_packing/program.py").read_text()
    cands = {c.id: c for c in store.candidates(s.run_id)}
    outside = next(c for c in cands.values() if "linprog, minimize" in c.code)
    assert outside.status == "rejected" and "outside every EVOLVE block" in outside.reject_reason
    missing = next(c for c in cands.values() if "range(3, 14)" in c.code)
    assert missing.status == "rejected" and "not found" in missing.reject_reason
    # the improving edit was applied to the seed's program and scored in the sandbox
    best = cands[s.best.id]
    assert best.train_score == pytest.approx(2.5 + (2 ** 0.5 - 1) / 10, abs=1e-6)  # the 26th circle in a hole
    assert best.parent_ids == [s.seed_id] and best.operator == "edit"
    program = Program.from_text(best.code)
    assert "holes[: n - len(grid)]" in program.files["program.py"]
    assert program.files["program.py"].startswith((ROOT / "problems/circle_packing/program.py").read_text()[:300])
    assert set(s.test_scores[best.id]) == {"n32"}
    # the model saw the program with its block, and a refusal's reason came back in a later prompt
    first = prompts[0][-1]["content"]
    assert "# EVOLVE-BLOCK-START" in first and "<<<<<<< SEARCH" in first
    later = "\n".join(m[-1]["content"] for m in prompts[1:])
    assert "outside every EVOLVE block" in later


def test_parse_applies_edits_to_the_parent_the_marker_names(tmp_path):
    from discover.problem import load_problem
    from discover.targets.program import ProgramTarget

    cfg = RunConfig(problem="circle_packing", model="fake/cp")
    target = ProgramTarget(load_problem("circle_packing"), evaluator=None, config=cfg)
    seed = target.seed().content
    child = target.parse(HOLES, prefix=target.parent_marker(seed))
    assert "holes" in Program.from_text(child.content).files["program.py"]
    assert child.thought.startswith("also try a square grid")
    again = HOLES.replace("    return best\n=======", "    if radii.sum() > best[1].sum():\n        best = (centers, radii)\n    return best\n=======", 1)
    # the same edit on the child (whose block now has the grid code) changes the child, not the seed
    grandchild = target.parse(again.replace("k = int", "k = max(1, int").replace("(n))", "(n)))", 1),
                              prefix=target.parent_marker(child.content))
    assert Program.from_text(grandchild.content).files["program.py"].count("holes = ") == 2
    with pytest.raises(MalformedOutput, match="outside every EVOLVE block"):
        target.parse(OUTSIDE, prefix=target.parent_marker(seed))
    assert target.fingerprint(child.content) != target.fingerprint(seed)


@pytest.mark.parametrize("archive", ["islands", "map-elites"])
def test_program_runs_with_the_diversity_archives(tmp_path, archive):
    fake.script("cp", lambda m: HOLES if "holes" not in m[-1]["content"] else NOT_FOUND)
    cfg = RunConfig(problem="circle_packing", model="fake/cp", generations=2, population=2, llm_concurrency=1,
                    workers=1, sandbox="auto", seed=1, test_top_k=1, schedule="generational", archive=archive)
    s = evolve(cfg, runs_dir=tmp_path)
    store = Store(tmp_path)
    state = store.load_archive_state(s.run_id)
    assert s.status == "finished" and s.best.train_score > 2.54 and state["archive"] == archive
    if archive == "islands":  # the seed started every island; the child joined the island its parent was drawn from
        assert all(s.seed_id in isl for isl in state["islands"])
        assert sum(s.best.id in isl for isl in state["islands"]) == 1
    else:  # both placed by code size and the sandbox's wall time; the better child took the seed's cell
        assert state["dimensions"] == ["code_size", "runtime_s"]
        assert set(state["features"]) == {s.seed_id, s.best.id}
        assert state["features"][s.seed_id]["code_size"] < state["features"][s.best.id]["code_size"]
        assert list(state["cells"].values()) == [s.best.id]


def _two_file_problem(tmp_path):
    """circle_packing with row_layout moved to layouts.py, a second file with its own EVOLVE block."""
    import shutil

    root = tmp_path / "cp2"
    shutil.copytree(ROOT / "problems" / "circle_packing", root)
    src = (root / "program.py").read_text()
    start = src.index("def row_layout(")
    end = src.index("def max_radii(")
    (root / "layouts.py").write_text("import numpy as np\n\n\n# EVOLVE-BLOCK-START layouts\n" + src[start:end].rstrip()
                                     + "\n# EVOLVE-BLOCK-END\n")
    rest = src[:start] + src[end:]
    (root / "program.py").write_text(rest.replace("from scipy.optimize import linprog\n",
                                                  "from scipy.optimize import linprog\n\nfrom layouts import row_layout\n", 1))
    toml = root / "problem.toml"
    toml.write_text(toml.read_text().replace('files = ["program.py"]', 'files = ["program.py", "layouts.py"]'))
    return root


def test_a_two_file_program_imports_its_edited_second_file(tmp_path):
    root = _two_file_problem(tmp_path)
    drop_one = ("Thought: one circle fewer.\n<<<<<<< SEARCH layouts.py\n    return np.array(points, dtype=float)\n"
                "=======\n    return np.array(points[:-1], dtype=float)\n>>>>>>> REPLACE")
    fake.script("cp2", lambda m: drop_one)
    cfg = RunConfig(problem=str(root), model="fake/cp2", generations=1, population=2, llm_concurrency=1, workers=1,
                    sandbox="auto", seed=1, test_top_k=1, schedule="generational")
    s = evolve(cfg, runs_dir=tmp_path / "runs")
    store = Store(tmp_path / "runs")
    assert store.get_candidate(s.seed_id).train_score == pytest.approx(2.5, abs=1e-6)  # program.py imports layouts.py
    child = next(c for c in store.candidates(s.run_id) if c.operator == "edit")
    assert "points[:-1]" in Program.from_text(child.code).files["layouts.py"]
    ev = store.evaluations(child.id, "train")[0]
    assert child.status == "evaluated" and not child.valid and ev.status == "invalid"  # the edited file ran: 25 circles


def test_an_interrupted_program_run_with_islands_resumes_its_islands_and_repays_nothing(tmp_path):
    from discover.interrupt import request_stop
    from discover.run import Interrupted
    import signal

    state = {"n": 0}

    def respond(messages):
        state["n"] += 1
        if state["n"] == 3:  # Ctrl-C while the third answer is being written
            request_stop(signal.SIGINT)
        i = state["n"]
        return (f"Thought: try {i + 8} rows at most.\n<<<<<<< SEARCH\n    for rows in range(3, 9):\n=======\n"
                f"    for rows in range(3, {9 + i}):\n>>>>>>> REPLACE")

    fake.script("cp", respond)
    cfg = RunConfig(problem="circle_packing", model="fake/cp", generations=3, population=2, llm_concurrency=1,
                    workers=1, sandbox="auto", seed=1, test_top_k=1, schedule="generational", archive="islands")
    with pytest.raises(Interrupted):
        evolve(cfg, runs_dir=tmp_path)
    store = Store(tmp_path)
    run = store.list_runs()[0]
    before = store.load_archive_state(run.id)
    s = evolve(cfg, runs_dir=tmp_path, resume=run.id)
    after = store.load_archive_state(run.id)
    assert s.status == "finished"
    cands = store.candidates(run.id)
    valid = {c.id for c in cands if c.valid}
    # the counters went on from the saved ones: every valid candidate placed once, islands hold only those
    assert before["additions"] < after["additions"] == len(valid)
    assert after["migrations"] == after["additions"] // after["migrate_every"]
    assert {mid for isl in after["islands"] for mid in isl} <= valid
    keys = [c.llm_call_key for c in cands if c.llm_call_key]
    assert len(keys) == len(set(keys)) == fake.stats("cp").calls  # every answer paid once
    edits = [c for c in cands if c.operator == "edit"]
    assert len(edits) == 1 + 2 + 2 and all(c.status != "pending" and c.parent_ids for c in edits)
    # an edit of a parent whose line it changed already is refused against that parent, not applied to the seed
    stale = [c for c in edits if c.status == "rejected"]
    assert all("SEARCH text not found" in c.reject_reason and c.parent_ids != [s.seed_id] for c in stale)


def test_local_models_are_asked_for_block_rewrites():
    import asyncio
    import random

    from discover.operators.base import ProposeContext
    from discover.problem import load_problem
    from discover.targets.program import EditProgram, ProgramTarget

    target = ProgramTarget(load_problem("circle_packing"), None, RunConfig(problem="circle_packing",
                                                                           model="local/qwen2.5-coder-0.5b"))
    assert target.answer_kind == "rewrite"
    ctx = ProposeContext(target=target, generation=0, slot=1, members=[], lessons=[], rng=random.Random(0))
    proposal = asyncio.run(EditProgram().propose(ctx))
    user = proposal.messages[-1]["content"]
    assert "Block: <name or index>" in user and "<<<<<<< SEARCH" not in user and "# EVOLVE-BLOCK-START" in user
    block = target.program.blocks()[0].text
    rewrite = ("Thought: five staggers.\nBlock: 0\n```python\n"
               + block.replace("(0.0, 0.5, 1.0)", "(0.0, 0.25, 0.5, 0.75, 1.0)") + "```\n")
    parsed = target.parse(rewrite, prefix=proposal.prefix)
    assert "(0.0, 0.25, 0.5, 0.75, 1.0)" in Program.from_text(parsed.content).files["program.py"]
