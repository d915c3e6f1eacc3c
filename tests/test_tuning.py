"""Constant lifting/rendering (discover/tuning.py) and the search (discover/tuning_search.py)."""

from __future__ import annotations

import ast
import asyncio
import json
import math
from pathlib import Path

import numpy as np
import pytest

from discover.tuning import TuningError, lift_constants
from discover.tuning_search import FULL, SCREEN, TuningBudgetError, known_from, tune

ROOT = Path(__file__).resolve().parents[1]
TSP_SIGNATURE = (
    "def select_next_node(current_node: int, destination_node: int, unvisited_nodes: np.ndarray, "
    "distance_matrix: np.ndarray) -> int:"
)

# Written by hand the way small models write them: weights inline, guards, sentinels, index arithmetic.
TSP_LOOKAHEAD = '''import numpy as np


def select_next_node(current_node, destination_node, unvisited_nodes, distance_matrix):
    """Pick by 0.4 * closeness and a look-ahead over the 5 nearest (numbers in text are not code)."""
    if len(unvisited_nodes) == 1:
        return int(unvisited_nodes[0])
    d = distance_matrix[current_node, unvisited_nodes]
    nearest = np.argsort(d)[:5]
    score = np.full(len(d), 1e9)
    for k in range(len(nearest)):
        j = nearest[k]
        rest = np.delete(unvisited_nodes, j)
        ahead = distance_matrix[unvisited_nodes[j], rest].min() if len(rest) > 0 else 0.0
        score[j] = 0.4 * d[j] + 0.35 * ahead - 0.1 * distance_matrix[destination_node, unvisited_nodes[j]]
    score = score / (score.max(axis=0) + 1e-9)
    return int(unvisited_nodes[np.argmin(score)])
'''

TSP_NAMED = '''import numpy as np

ALPHA = 1.2  # weight of the distance
POWER = 2
TOP = 3


def select_next_node(current_node, destination_node, unvisited_nodes, distance_matrix, beta=-0.25, debug=False):
    d = distance_matrix[current_node, unvisited_nodes]
    back = distance_matrix[destination_node, unvisited_nodes]
    cand = np.argsort(d)[:TOP]
    s = ALPHA * d[cand] ** POWER + beta * back[cand]
    if len(unvisited_nodes) > 10 and d.mean() < 0.2:
        s = s - 2 * d[cand]
    return int(unvisited_nodes[cand[np.argmin(s)]])


if __name__ == "__main__":
    print(select_next_node(0, 0, np.array([1, 2]), np.ones((3, 3)) * 0.5))
'''

BINPACK = '''import numpy as np


def priority(item: float, bins: np.ndarray) -> np.ndarray:
    remaining = bins - item
    fit = np.exp(-3.0 * remaining / (item + 1e-12))
    fit[remaining < 0.05 * item] *= 1.5
    score = fit - np.power(remaining, 2) + 0.0 * bins
    score = np.where(remaining == 0, 1e6, score)
    return score
'''

INTS = '''import numpy as np


def f(x, n=4, k=3):
    a = np.zeros(n)
    b = [0.0] * 4
    c = x[2] + x[-1] + x[1:3].sum() + x[:, 0].sum(axis=1)
    d = np.argpartition(x, 2)
    e = x.shape[0] // 2 + len(x) % 3 + (len(x) - 2)
    if len(x) == 2:
        return 0
    for i in range(len(x) - 2):
        pass
    g = 2 * x + x ** 3 + np.power(x, 4) + x / 5
    h = x[np.argmin(x ** 6)]
    if len(x) > 7:
        g = g * k
    return g, True, round(x, 8)
'''


def texts(template):
    return [p.text for p in template.params]


def skipped(template):
    return {(s.line, s.text): s.reason for s in template.skipped}


def test_lifts_weights_not_guards_sentinels_indices_or_counts():
    t = lift_constants(TSP_LOOKAHEAD, TSP_SIGNATURE)
    assert texts(t) == ["0.0", "0.4", "0.35", "0.1"]
    assert [p.name for p in t.params] == ["p0", "p1", "p2", "p3"]
    assert [p.kind for p in t.params] == ["float"] * 4
    reasons = skipped(t)
    assert reasons[(10, "1e9")] == "sentinel"
    assert reasons[(16, "1e-9")] == "guard epsilon"
    assert reasons[(9, "5")] == "slice bound"
    assert reasons[(7, "0")].startswith("0 or 1")
    assert reasons[(16, "0")].startswith("0 or 1")


def test_named_ints_follow_their_uses_and_dead_code_is_not_lifted():
    t = lift_constants(TSP_NAMED, TSP_SIGNATURE)
    by_text = {(p.line, p.text): p for p in t.params}
    assert set(by_text) == {(3, "1.2"), (4, "2"), (8, "-0.25"), (13, "10"), (13, "0.2"), (14, "2")}
    assert by_text[(4, "2")].role == "named constant"  # POWER: only used as an exponent
    assert by_text[(8, "-0.25")].role == "default" and by_text[(8, "-0.25")].sign == -1
    assert by_text[(13, "10")].role == "threshold" and by_text[(13, "10")].kind == "int"
    reasons = skipped(t)
    assert "used as a count/index" in reasons[(5, "3")]  # TOP slices: a count
    assert reasons[(19, "0.5")] == "output only"
    assert not any(p.line == 19 for p in t.params)  # nothing under __main__


def test_defaults_of_parameters_the_caller_passes_are_dead():
    code = "def select_next_node(current_node, destination_node, unvisited_nodes=None, distance_matrix=2.5, w=0.7):\n" \
           "    return w * distance_matrix\n"
    assert texts(lift_constants(code, TSP_SIGNATURE)) == ["0.7"]
    assert skipped(lift_constants(code, TSP_SIGNATURE))[(1, "2.5")].startswith("default of a parameter")
    assert texts(lift_constants(code)) == ["2.5", "0.7"]  # without the signature nothing is known to be dead


def test_ints_only_where_they_act_as_numbers():
    t = lift_constants(INTS)
    assert [(p.line, p.text, p.role) for p in t.params] == [
        (4, "3", "default"),  # k: only used as `g * k`
        (14, "2", "weight"), (14, "3", "exponent"), (14, "4", "exponent"), (14, "5", "weight"),
        (15, "6", "exponent"), (16, "7", "threshold"),
    ]
    reasons = skipped(t)
    assert "count" in reasons[(4, "4")]  # n sizes np.zeros
    assert reasons[(6, "4")] == "sequence repetition"
    assert reasons[(6, "0.0")] == "zero initial value"
    assert reasons[(7, "2")] == "index"
    assert reasons[(8, "2")].startswith("argument of argpartition()")
    assert reasons[(9, "2")] == "integer/offset arithmetic"  # // 2
    assert reasons[(10, "2")].startswith("equality test")
    assert reasons[(12, "2")] == "integer/offset arithmetic"  # len(x) - 2 inside range()
    assert reasons[(18, "8")].startswith("argument of round()")


def test_int_names_are_lifted_when_every_use_is_a_number():
    code = "def f(x, k=3):\n    return x * k + x ** k\n"
    assert [(p.text, p.role) for p in lift_constants(code).params] == [("3", "default")]
    code = "def f(x, k=3):\n    return x[:k] * k\n"
    assert lift_constants(code).params == ()


def test_numbers_of_other_kinds_are_not_parameters():
    code = 'def f(x):\n    """Use 0.5 here."""\n    flag = True\n    s = "2.5"\n    assert x > 0.5\n    return x\n'
    t = lift_constants(code)
    assert t.params == ()
    assert skipped(t)[(5, "0.5")] == "assert"


def test_binpack_heuristic():
    t = lift_constants(BINPACK, "def priority(item: float, bins: np.ndarray) -> np.ndarray:")
    assert texts(t) == ["-3.0", "0.05", "1.5", "2", "0.0"]
    assert t.params[0].negative_literal and t.params[0].value == -3.0
    assert t.params[3].role == "exponent"  # np.power(remaining, 2)


@pytest.mark.parametrize("code", [TSP_LOOKAHEAD, TSP_NAMED, BINPACK, INTS])
def test_render_original_values_is_the_original_code(code):
    t = lift_constants(code)
    assert t.render(t.values) == code
    assert t.render(t.as_dict()) == code


@pytest.mark.parametrize("seed", sorted((ROOT / "problems").glob("*/seed.py")))
def test_round_trip_on_the_shipped_seeds(seed):
    code = seed.read_text()
    t = lift_constants(code)
    assert t.render(t.values) == code


@pytest.mark.parametrize("code", [TSP_LOOKAHEAD, TSP_NAMED, BINPACK])
def test_render_replaces_only_the_literals(code):
    t = lift_constants(code)
    new = tuple((v * 3 + 1) if isinstance(v, int) else round(v * 1.7 + 0.01, 4) for v in t.values)
    out = t.render(new)
    again = lift_constants(out)
    assert again.values == new  # same parameters found at the new values
    lines_with_params = {p.line for p in t.params}
    old_lines, new_lines = code.splitlines(), out.splitlines()
    assert len(old_lines) == len(new_lines)
    for number, (old_line, new_line) in enumerate(zip(old_lines, new_lines), start=1):
        assert (old_line == new_line) == (number not in lines_with_params)


def test_render_handles_non_ascii_columns_and_negative_values():
    code = 'def f(x):\n    s = "été"; return 0.5 * x + 2.0 ** 2  # é\n'
    t = lift_constants(code)
    assert texts(t) == ["0.5", "2.0", "2"]
    out = t.render((0.25, -3.0, 2))
    assert out == 'def f(x):\n    s = "été"; return 0.25 * x + (-3.0) ** 2  # é\n'
    ns: dict = {}
    exec(out, ns)
    assert ns["f"](0.0) == 9.0  # (-3.0) ** 2, not -(3.0 ** 2)


def test_errors_are_typed():
    with pytest.raises(TuningError, match="line 1"):
        lift_constants("def f(:\n")
    t = lift_constants("def f(x):\n    return 0.5 * x\n")
    with pytest.raises(TuningError, match="1 parameters"):
        t.render((1.0, 2.0))
    with pytest.raises(TuningError, match="unknown"):
        t.render({"p0": 1.0, "p9": 2.0})


# --- search ----------------------------------------------------------------------------------------------------

PLANTED = '''import numpy as np


def f(x):
    return 0.5 * np.abs(x) ** 2.0 + 1.5 * x - 0.2
'''
TARGET = (1.3, 2.6, 0.4, 0.45)  # within a factor 8 of each original, so inside the search range
XS = np.linspace(-2.0, 2.0, 41)


def planted_objective(calls: list | None = None, fail=None):
    template = lift_constants(PLANTED)

    def target(x):
        a, p, b, c = TARGET
        return a * np.abs(x) ** p + b * x - c

    async def objective(values, fidelity):
        if calls is not None:
            calls.append((values, fidelity))
        if fail is not None and fail(values):
            return None
        ns: dict = {}
        exec(template.render(values), ns)
        xs = XS[::4] if fidelity == SCREEN else XS
        return float(np.mean(np.abs(ns["f"](xs) - target(xs))))

    return template, objective


def run(coro):
    return asyncio.run(coro)


def test_finds_planted_constants_within_budget():
    template, objective = planted_objective()
    assert template.values == (0.5, 2.0, 1.5, 0.2)
    result = run(tune(template, objective, budget=300, seed=0))
    assert result.improved and result.original_score > 1.0
    assert result.best_score < 0.05
    assert all(math.isclose(v, t, rel_tol=0.05) for v, t in zip(result.best_values, TARGET)), result.best_values
    assert result.best_code == template.render(result.best_values)
    assert result.params == dict(zip(("p0", "p1", "p2", "p3"), result.best_values))
    meta = json.loads(json.dumps(result.meta()))
    assert meta["params"] == result.params and meta["original"] == {"p0": 0.5, "p1": 2.0, "p2": 1.5, "p3": 0.2}
    assert meta["budget"] == 300 and meta["seed"] == 0 and meta["signs"] == "keep" and meta["popsize"] == 8
    assert meta["best_score"] == result.best_score and meta["evaluations_used"] == 300


def test_cma_beats_random_search_on_the_planted_problem():
    template, objective = planted_objective()
    cma = [run(tune(template, objective, budget=150, seed=s)).best_score for s in range(3)]
    rnd = [run(tune(template, objective, budget=150, seed=s, method="random")).best_score for s in range(3)]
    assert sorted(cma)[1] < sorted(rnd)[1]


@pytest.mark.parametrize("screen,original_known", [(True, False), (True, True), (False, False), (False, True)])
def test_budget_is_spent_exactly_and_counted_per_call(screen, original_known):
    calls: list = []
    template, objective = planted_objective(calls)
    original = run(objective(template.values, FULL)) if original_known else None
    calls.clear()
    result = run(tune(template, objective, budget=23, seed=1, screen=screen, original_score=original))
    assert len(calls) == 23 == result.evaluations_used == result.evaluations_called == len(result.history)
    assert len(set(calls)) == len(calls)  # nothing scored twice
    fulls = [c for c in calls if c[1] == FULL]
    if screen:
        assert len(fulls) == 3 + (not original_known)  # baseline + confirm_top
    else:
        assert len(fulls) == 23
    # the result is a full score, never a screen number
    best = [e for e in result.history if e.values == result.best_values and e.fidelity == FULL]
    assert best and best[0].score == result.best_score
    if not original_known:
        assert calls[0] == (template.values, FULL)  # the baseline comes first


def test_failed_evaluations_do_not_crash_the_search():
    calls: list = []
    template, objective = planted_objective(calls, fail=lambda v: v[0] > 0.9)

    async def nan_sometimes(values, fidelity):
        if values[2] > 1.8:
            return float("nan")
        return await objective(values, fidelity)

    result = run(tune(template, nan_sometimes, budget=60, seed=2))
    failed = [e for e in result.history if e.score is None]
    assert failed and len(result.history) == 60
    assert result.best_score is not None and result.best_values[0] <= 0.9 and result.best_values[2] <= 1.8


def test_original_failing_and_everything_failing():
    template, objective = planted_objective(fail=lambda v: True)
    result = run(tune(template, objective, budget=10, seed=0))
    assert result.best_score is None and result.original_score is None and not result.improved
    assert result.best_values == template.values and result.best_code == PLANTED


def test_original_wins_when_nothing_is_better():
    template = lift_constants("def f(x):\n    return 0.5 * x\n")

    async def objective(values, fidelity):
        return abs(values[0] - 0.5)

    result = run(tune(template, objective, budget=15, seed=0))
    assert result.best_values == (0.5,) and not result.improved and result.best_code == template.code


def test_deterministic_for_a_seed_and_independent_of_concurrency_and_global_rng():
    template, objective = planted_objective()
    in_flight = {"now": 0, "max": 0}

    async def slow(values, fidelity):
        in_flight["now"] += 1
        in_flight["max"] = max(in_flight["max"], in_flight["now"])
        await asyncio.sleep(0.001 * (hash(values) % 5))  # finish out of order
        np.random.rand(3)  # the caller's own use of numpy's global generator
        in_flight["now"] -= 1
        return await objective(values, fidelity)

    a = run(tune(template, objective, budget=40, seed=5, popsize=8))
    np.random.seed(123)
    state = np.random.get_state()[1].copy()
    b = run(tune(template, slow, budget=40, seed=5, popsize=8, concurrency=4))
    assert in_flight["max"] == 4
    assert [(e.values, e.fidelity, e.score) for e in a.history] == [(e.values, e.fidelity, e.score) for e in b.history]
    np.random.seed(123)
    assert (np.random.get_state()[1] == state).all()
    c = run(tune(template, objective, budget=40, seed=6, popsize=8))
    assert [e.values for e in c.history] != [e.values for e in a.history]


def test_resume_with_known_asks_for_nothing_known():
    template, objective = planted_objective()
    first = run(tune(template, objective, budget=40, seed=3))
    # a crash after 25 evaluations, stored the way the loop stores them (values as a JSON list)
    stored = json.loads(json.dumps([[list(e.values), e.fidelity, e.score] for e in first.history[:25]]))
    known = known_from(stored)
    calls: list = []
    _, counting = planted_objective(calls)
    resumed = run(tune(template, counting, budget=40, seed=3, known=known))
    assert not any((v, f) in known for v, f in calls)
    assert len(calls) == 15 == resumed.evaluations_called
    assert resumed.evaluations_used == 40
    assert [(e.values, e.fidelity, e.score) for e in resumed.history] == [
        (e.values, e.fidelity, e.score) for e in first.history
    ]
    assert [e.reused for e in resumed.history] == [True] * 25 + [False] * 15
    assert resumed.best_values == first.best_values and resumed.best_score == first.best_score


def test_small_int_space_stops_when_exhausted():
    template = lift_constants("def f(x):\n    return x ** 2\n")
    calls: list = []

    async def objective(values, fidelity):
        calls.append((values, fidelity))
        return abs(values[0] - 5)

    result = run(tune(template, objective, budget=200, seed=0, screen=False))
    assert len(calls) == len(set(calls)) == result.evaluations_used < 200
    assert all(1 <= v[0] <= 16 and isinstance(v[0], int) for v, _ in calls)
    assert result.best_values == (5,)
    assert "x ** 5" in result.best_code


def test_ranges_keep_sign_and_ints_stay_positive():
    template = lift_constants("def f(x):\n    return -2.5 * x + 0.0 * x ** 3 + 4.0\n")
    seen: list = []

    async def objective(values, fidelity):
        seen.append(values)
        return sum(values)

    run(tune(template, objective, budget=60, seed=0))
    a, zero, p, c = zip(*seen)
    assert all(-20.0 <= v <= -2.5 / 8 for v in a)
    assert all(-1.0 <= v <= 1.0 for v in zero) and min(zero) < 0 < max(zero)
    assert all(isinstance(v, int) and 1 <= v <= 24 for v in p)
    assert all(0.5 <= v <= 32.0 for v in c)
    for values in seen:
        ast.parse(template.render(values))


def test_nothing_to_tune_and_budget_too_small():
    template = lift_constants((ROOT / "problems" / "tsp" / "seed.py").read_text(), TSP_SIGNATURE)
    assert len(template) == 0
    calls: list = []

    async def objective(values, fidelity):
        calls.append((values, fidelity))
        return 23.1

    result = run(tune(template, objective, budget=20, seed=0))
    assert calls == [((), FULL)] and result.best_score == 23.1 and not result.improved
    assert run(tune(template, objective, budget=20, seed=0, original_score=23.1)).evaluations_used == 0
    with pytest.raises(TuningBudgetError, match="at least 3"):
        run(tune(lift_constants(PLANTED), objective, budget=2, seed=0))


def test_free_signs_let_a_wrongly_signed_weight_cross_zero():
    template = lift_constants("def f(x):\n    return 0.5 * x + 0.2\n")

    async def objective(values, fidelity):
        return abs(values[0] - 0.6) + abs(values[1] + 0.15)  # the second weight should be negative

    kept = run(tune(template, objective, budget=60, seed=0))
    free = run(tune(template, objective, budget=60, seed=0, signs="free"))
    assert all(e.values[1] > 0 for e in kept.history)
    assert free.best_values[1] < 0 and free.best_score < 0.05 < kept.best_score
    assert all(abs(e.values[0]) <= 4.0 and abs(e.values[1]) <= 1.6 for e in free.history)  # reach: |v| * 2**3
    assert "+ (-0." in free.best_code  # rendered in parentheses where the source had no minus


def test_annotated_and_tuple_assignments_of_ints():
    code = "import numpy as np\n\nP: int = 3\nA, B = 2, 5\n\n\ndef f(x):\n    return x ** P * A + B\n"
    t = lift_constants(code)
    assert [(p.text, p.role) for p in t.params] == [("3", "named constant")]
    assert skipped(t)[(4, "2")].startswith("int not used as a number")


# The loop-over-nodes style of EoH-era heuristics, with its weights unpacked from a tuple and a fallback threshold.
TSP_LOOP_STYLE = '''import numpy as np


def select_next_node(current_node, destination_node, unvisited_nodes, distance_matrix):
    w_near, w_spread, w_home = 0.45, 0.25, 0.15
    cutoff = 0.65
    best, best_score = None, float("inf")
    for node in unvisited_nodes:
        others = [distance_matrix[node][j] for j in unvisited_nodes if j != node]
        spread = np.std(others) if len(others) > 1 else 0.0
        s = w_near * distance_matrix[current_node][node] + w_spread * spread - w_home * distance_matrix[node][0]
        if s < best_score:
            best, best_score = node, s
    if best_score > cutoff:
        return int(min(unvisited_nodes, key=lambda n: distance_matrix[current_node][n]))
    return int(best)
'''


def test_loop_style_heuristic_with_tuple_unpacked_weights():
    t = lift_constants(TSP_LOOP_STYLE, TSP_SIGNATURE)
    assert [(p.line, p.text) for p in t.params] == [(5, "0.45"), (5, "0.25"), (5, "0.15"), (6, "0.65"), (10, "0.0")]
    reasons = skipped(t)
    assert reasons[(10, "1")].startswith("0 or 1")
    assert reasons[(11, "0")].startswith("0 or 1")
    out = t.render((0.5, 0.2, -0.1, 0.7, 0.05))
    assert "w_near, w_spread, w_home = 0.5, 0.2, (-0.1)" in out and "cutoff = 0.7" in out
    ns: dict = {}
    exec(out, ns)
    d = np.array([[0.0, 1.0, 2.0], [1.0, 0.0, 1.5], [2.0, 1.5, 0.0]])
    assert ns["select_next_node"](0, 0, np.array([1, 2]), d) in (1, 2)
