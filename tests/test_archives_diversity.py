"""Diversity archives: islands (placement, migration, parents from one island, resume) and MAP-Elites."""

import random

import pytest

from discover.archives import ARCHIVES, Member


def member(i, score, parents=(), gen=1, valid=True, **meta):
    return Member(id=f"c{i}", fingerprint=f"f{i}", score=score, valid=valid, generation=gen, slot=i,
                  sort_key=-score if score is not None else float("inf"),
                  meta={"parent_ids": list(parents), **meta})


# -- islands -------------------------------------------------------------------------------------------------------
def test_the_seed_starts_every_island_and_children_join_their_parents_island():
    a = ARCHIVES["islands"](population=5, islands=3, migrate_every=100)
    a.add(member(0, 1.0, gen=0))
    assert a.islands == [["c0"], ["c0"], ["c0"]]
    rng = random.Random(0)
    parent = a.sample(1, rng)[0]
    home = a.sampled_from[parent.id]
    a.add(member(1, 2.0, parents=[parent.id]))
    assert [i for i, isl in enumerate(a.islands) if "c1" in isl] == [home]
    # parentless members go round-robin
    a.add(member(2, 0.5, gen=0))
    a.add(member(3, 0.4, gen=0))
    assert sorted(i for i, isl in enumerate(a.islands) for m in ("c2", "c3") if m in isl) == [0, 1]


def test_parents_of_one_proposal_come_from_one_island():
    a = ARCHIVES["islands"](population=10, islands=2, migrate_every=1000)
    a.add(member(0, 0.0, gen=0))
    for i in range(1, 9):  # even ids on island 0, odd on island 1 (their parents' islands)
        a.sampled_from[f"p{i % 2}"] = i % 2
        a.add(member(i, float(i), parents=[f"p{i % 2}"]))
    for seed in range(20):
        picked = a.sample(3, random.Random(seed))
        islands = {i for i, isl in enumerate(a.islands) if all(m.id in isl for m in picked)}
        assert len(picked) == 3 and islands, [m.id for m in picked]


def test_migration_every_m_additions_copies_each_islands_best_to_the_next():
    a = ARCHIVES["islands"](population=10, islands=3, migrate_every=4)
    a.add(member(0, 0.0, gen=0))              # addition 1, on every island
    for i, isl in ((1, 0), (2, 1), (3, 2)):   # additions 2-3: no migration yet
        a.sampled_from[f"p{isl}"] = isl
        if i < 3:
            a.add(member(i, 10.0 * i, parents=[f"p{isl}"]))
    assert a.migrations == []
    a.add(member(3, 5.0, parents=["p2"]))     # addition 4: migration
    assert len(a.migrations) == 1
    assert sorted(a.migrations[0]) == [("c1", 0, 1), ("c2", 1, 2), ("c3", 2, 0)]
    assert "c1" in a.islands[1] and "c2" in a.islands[2] and "c3" in a.islands[0]
    for i in range(4, 7):
        a.add(member(i, 0.1 * i, parents=["p0"]))
    assert len(a.migrations) == 1             # additions 5-7
    a.add(member(7, 0.01, parents=["p0"]))
    assert len(a.migrations) == 2             # addition 8


def test_islands_keep_their_best_population_members():
    a = ARCHIVES["islands"](population=2, islands=2, migrate_every=1000)
    a.add(member(0, 0.0, gen=0))
    a.sampled_from["p"] = 1
    for i in range(1, 5):
        a.add(member(i, float(i), parents=["p"]))
    assert sorted(a.islands[1]) == ["c3", "c4"] and a.islands[0] == ["c0"]
    assert a.best().id == "c4"


def test_resume_restores_the_islands_exactly():
    a = ARCHIVES["islands"](population=5, islands=3, migrate_every=3)
    added = [member(0, 0.0, gen=0)]
    a.add(added[0])
    rng = random.Random(1)
    for i in range(1, 8):
        p = a.sample(1, rng)[0]
        added.append(member(i, random.Random(i).random(), parents=[p.id]))
        a.add(added[-1])
    state = a.state()
    b = ARCHIVES["islands"](population=5, islands=3, migrate_every=3)
    for m in added:  # the loop re-adds members from the store (without the samples) before load()
        b.add(Member(**{**m.__dict__, "meta": {}}))
    assert b.islands != a.islands
    b.load(state)
    assert b.islands == a.islands and b.additions == a.additions and b.state() == state
    assert [m.id for m in b.sample(2, random.Random(5))] == [m.id for m in a.sample(2, random.Random(5))]


# -- MAP-Elites ----------------------------------------------------------------------------------------------------
def featured(i, score, size, calls, valid=True):
    return member(i, score, valid=valid, features={"code_size": size, "numpy_calls": calls})


def test_a_cell_keeps_its_best_and_a_new_cell_is_added():
    a = ARCHIVES["map-elites"](population=5)
    a.add(featured(0, 1.0, 600, 2))
    a.add(featured(1, 0.5, 700, 2))           # same cell (512-1023 chars, 2 calls), worse: no replacement
    assert a.cells == {(9, 2): "c0"}
    a.add(featured(2, 1.0, 800, 2))           # a tie keeps the incumbent
    assert a.cells == {(9, 2): "c0"}
    a.add(featured(3, 2.0, 900, 2))           # better: replaces
    assert a.cells == {(9, 2): "c3"}
    a.add(featured(4, 0.1, 3000, 2))          # another size bin: a new cell, however bad
    a.add(featured(5, 0.1, 900, 5))           # another numpy-call count: a new cell
    a.add(featured(6, 9.0, 900, 5, valid=False))  # invalid: never an elite
    assert a.cells == {(9, 2): "c3", (11, 2): "c4", (9, 5): "c5"}
    assert [m.id for m in a.population_members()] == ["c3", "c4", "c5"]
    assert a.best().id == "c3"


def test_sampling_is_uniform_over_occupied_cells():
    a = ARCHIVES["map-elites"](population=5)
    a.add(featured(0, 100.0, 600, 1))         # a dominant elite
    for i in range(1, 4):
        a.add(featured(i, 0.01 * i, 600, 1 + i))
    counts = {}
    for seed in range(800):
        (m,) = a.sample(1, random.Random(seed))
        counts[m.id] = counts.get(m.id, 0) + 1
    assert set(counts) == {"c0", "c1", "c2", "c3"}
    assert all(150 <= n <= 250 for n in counts.values()), counts
    assert len({m.id for m in a.sample(4, random.Random(0))}) == 4


def test_members_wait_for_a_describer_and_state_round_trips():
    from discover.archives.map_elites import code_features

    code = {"c0": "import numpy as np\nx = np.zeros(3)\n", "c1": "y = 1\n" * 200}
    a = ARCHIVES["map-elites"](population=5)
    a.add(member(0, 1.0))
    a.add(member(1, 2.0))
    assert a.cells == {} and [m.id for m in a.sample(2, random.Random(0))] == ["c1"]  # the best alone meanwhile
    a.describe_with(lambda m: code_features(code[m.id], durations=[]))
    assert a.dimensions == ("code_size", "numpy_calls")
    assert a.cells == {(5, 1): "c0", (10, 0): "c1"}
    state = a.state()
    b = ARCHIVES["map-elites"](population=5)   # a resumed run: members re-added, no describer yet
    b.add(member(0, 1.0))
    b.add(member(1, 2.0))
    b.load(state)
    assert b.cells == a.cells and b.state() == state


def test_default_features_use_runtime_when_evaluations_report_it():
    from discover.archives.map_elites import code_features

    assert set(code_features("x = 1\n", durations=[0.2, 0.3])) == {"code_size", "runtime_s"}
    assert set(code_features("x = 1\n", durations=[])) == {"code_size", "numpy_calls"}
    assert code_features("x", [], {"bound": 2.9}, names=("bound",)) == {"bound": 2.9}


# -- novelty rejection ---------------------------------------------------------------------------------------------
BASE = '''
import numpy as np

def score(current, candidates, distance_matrix):
    """Lower is better."""
    d = distance_matrix[current, candidates]
    far = distance_matrix[candidates].mean(axis=1)
    return d - 0.3 * far + 0.1 * np.sqrt(d)
'''


def test_reformatted_or_recommented_code_is_a_near_duplicate_and_a_new_idea_is_not():
    from discover.archives.novelty import NoveltyCheck, normalise

    check = NoveltyCheck(threshold=0.95)
    check.remember("candidate c1", BASE)
    reformatted = BASE.replace('    """Lower is better."""\n', "    # lower wins\n").replace("0.3 * far", "0.3*far")
    assert normalise(reformatted) == normalise(BASE)
    hit = check.near_duplicate(reformatted)
    assert hit is not None and hit.id == "candidate c1" and hit.ratio == 1.0
    assert "near-duplicate of candidate c1 (code similarity 1.000 >= 0.95)" in hit.reason(check.threshold)
    tweaked = BASE.replace("0.3 * far", "0.31 * far")  # one constant: still above 0.95
    assert check.near_duplicate(tweaked).ratio > 0.95
    other = BASE.replace("d - 0.3 * far + 0.1 * np.sqrt(d)", "np.argsort(d)[::-1] * far / (1 + d.std())")
    assert check.near_duplicate(other) is None
    assert check.near_duplicate(tweaked, exclude=("candidate c1",)) is None
    assert NoveltyCheck(threshold=1.0).near_duplicate(tweaked) is None


def test_the_program_target_refuses_a_near_duplicate_before_evaluation(tmp_path):
    import shutil

    from discover.config import RunConfig
    from discover.extract import MalformedOutput
    from discover.problem import load_problem
    from discover.targets.program import ProgramTarget

    root = tmp_path / "cp"
    shutil.copytree(__import__("pathlib").Path(__file__).parent.parent / "problems" / "circle_packing", root)
    toml = root / "problem.toml"
    toml.write_text(toml.read_text() + "\n[archive]\nnovelty = 0.99\n")
    target = ProgramTarget(load_problem(str(root)), None, RunConfig(problem=str(root), model="fake/x"))
    seed = target.seed().content
    line = [ln for ln in (root / "program.py").read_text().splitlines() if "n centres in `rows` rows" in ln][0]
    redoc = f"Thought: a shorter docstring.\n<<<<<<< SEARCH\n{line}\n=======\n    \"\"\"Centres in rows.\"\"\"\n>>>>>>> REPLACE"
    with pytest.raises(MalformedOutput, match=r"near-duplicate of program \w+ \(code similarity 1\.000 >= 0\.99\)"):
        target.parse(redoc, prefix=target.parent_marker(seed))
    # one changed line of this 2 kB program is similarity 0.995: refused at 0.99; a new layout (10 lines) is not
    stagger = ("Thought: more staggers.\n<<<<<<< SEARCH\n        for stagger in (0.0, 0.5, 1.0):\n=======\n"
               "        for stagger in np.linspace(0.0, 1.5, 13):\n>>>>>>> REPLACE")
    with pytest.raises(MalformedOutput, match=r"code similarity 0\.99\d >= 0\.99"):
        target.parse(stagger, prefix=target.parent_marker(seed))
    from tests.test_program_target import HOLES

    assert "holes" in target.parse(HOLES, prefix=target.parent_marker(seed)).content
