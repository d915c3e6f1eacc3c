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
