"""problems/bbob: LLaMEA-style black-box optimization scored by AOCC on BBOB (needs `ioh`). The candidate side
returns the points it queried; the trusted side checks them and re-evaluates f at every one."""

import math
from pathlib import Path

import numpy as np
import pytest

from discover.contract import evaluate_in_process, import_file

pytest.importorskip("ioh", reason="problems/bbob needs the `ioh` package (pip install ioh)")

ROOT = Path(__file__).resolve().parent.parent / "problems" / "bbob"
DATA = str(ROOT / "data")

ES = '''import numpy as np
def optimize(func, budget, dim):
    lb, ub = func.bounds.lb, func.bounds.ub
    x = np.random.uniform(lb, ub)
    fx = func(x)
    sigma = 0.2 * (ub[0] - lb[0])
    for _ in range(budget - 1):
        y = np.clip(x + sigma * np.random.standard_normal(dim), lb, ub)
        fy = func(y)
        if fy <= fx:
            x, fx = y, fy
            sigma *= 1.5
        else:
            sigma *= 1.5 ** (-0.25)
    return fx, x
'''


@pytest.fixture(scope="module")
def ev():
    return import_file(ROOT / "evaluate.py", "bbob_evaluate")


def _run(code: str, instance_set: str = "train") -> dict:
    return evaluate_in_process(ROOT, code, instance_set)


def _invalid_on_candidate_side(code: str, needle: str) -> None:
    # The candidate side is its own import of evaluate.py (as in the sandbox), so its InvalidSolution is another class.
    with pytest.raises(Exception, match=needle) as info:
        _run(code)
    assert type(info.value).__name__ == "InvalidSolution"


def test_random_search_train_baseline():
    r = _run((ROOT / "seed.py").read_text())
    assert len(r["instances"]) == 16 and r["score"] == pytest.approx(0.0780, abs=1e-4)
    m = r["instances"]["f2_i1_d5"]
    assert m["function"] == "Ellipsoid" and m["evaluations"] == 10000 and 0 <= m["score"] <= 1


def test_es_beats_random_search():
    assert _run(ES)["score"] == pytest.approx(0.2252, abs=1e-4)


def test_aocc_definition(ev):
    import ioh
    p = ioh.get_problem(1, instance=1, dimension=2, problem_class=ioh.ProblemClass.BBOB)
    f_opt, xopt = p.optimum.y, np.asarray(p.optimum.x)
    far, near = p(np.full(2, 5.0)), p(xopt)
    n1 = (math.log10(min(far - f_opt, 1e2)) + 8) / 10
    n2 = (math.log10(max(near - f_opt, 1e-8)) + 8) / 10
    assert n2 < 0.05 and 0.9 < n1 <= 1
    # curve [n1, n2], then padded with n2 for the 2 unused evaluations of a budget of 4
    assert ev.aocc(np.array([far, near]), f_opt, 4) == pytest.approx(1 - (n1 + 3 * n2) / 4)
    # the curve is the best so far: a worse later value does not raise it
    assert ev.aocc(np.array([near, far]), f_opt, 2) == pytest.approx(1 - n2)
    mid = p(xopt + 1e-2)  # precision ~ 1e-4 * curvature: in between
    assert ev.aocc(np.array([mid]), f_opt, 2) == pytest.approx(1 - (math.log10(mid - f_opt) + 8) / 10)
    assert ev.aocc(np.empty(0), f_opt, 2) == 0.0


def test_llamea_style_class_is_accepted():
    src = ES.replace("def optimize(func, budget, dim):", "def _es(func, budget, dim):") + '''
class Optimizer:
    def __init__(self, budget, dim):
        self.budget, self.dim = budget, dim
    def __call__(self, func):
        return _es(func, self.budget, self.dim)
'''
    assert _run(src)["score"] == pytest.approx(0.2252, abs=1e-4)


def test_over_budget_ends_the_run_even_through_except_exception():
    src = '''import numpy as np
def optimize(func, budget, dim):
    while True:
        try:
            func(np.zeros(dim))
        except Exception:
            pass
'''
    r = _run(src)
    assert all(v["evaluations"] == 10000 for v in r["instances"].values())


@pytest.mark.parametrize("call,needle", [
    ("func(np.full(dim, 6.0))", "outside the search space"),
    ("func(np.zeros(dim + 1))", "shape"),
    ("func(np.full(dim, np.nan))", "non-finite"),
])
def test_bad_calls_are_invalid_on_the_candidate_side(call, needle):
    _invalid_on_candidate_side(f"import numpy as np\ndef optimize(func, budget, dim):\n    {call}\n", needle)


def test_missing_entry_is_invalid():
    _invalid_on_candidate_side("x = 1\n", "optimize")


def test_the_candidate_side_returns_the_queried_points(ev):
    data = ev.public("train", DATA)["f2_i1_d5"]
    assert data == {"fid": 2, "iid": 1, "dim": 5, "budget": 10000, "seed": 2015}
    cand = type("C", (), {"optimize": staticmethod(lambda func, budget, dim: [func(np.full(dim, v)) for v in (1, -2)])})
    assert ev.run(cand, data).tolist() == [[1.0] * 5, [-2.0] * 5]


def _points_for_every_run(ev, k=3):
    return {iid: np.random.default_rng(0).uniform(-5, 5, (k, d["dim"])) for iid, d in ev.public("train", DATA).items()}


@pytest.mark.parametrize("forge,needle", [
    (lambda x: np.zeros((10001, 5)), "10001 points came back, more than the budget of 10000"),
    (lambda x: np.vstack([x, np.full((1, 5), 5.5)]), "point 3 is outside the search space"),
    (lambda x: np.vstack([x, np.full((1, 5), -5.0 - 1e-6)]), "point 3 is outside the search space"),
    (lambda x: np.where(np.arange(3)[:, None] == 1, np.nan, x), "point 1 is not finite"),
    (lambda x: np.where(np.arange(3)[:, None] == 2, np.inf, x), "point 2 is not finite"),
    (lambda x: x[:, :4], r"shape \(3, 4\); expected \(evaluations, 5\)"),
    (lambda x: x[0], r"shape \(5,\)"),
    (lambda x: x.tolist(), "must be a numeric array"),
    (lambda x: x > 0, "must be a numeric array"),
])
def test_forged_points_are_invalid(ev, forge, needle):
    outputs = _points_for_every_run(ev)
    assert ev.score("train", DATA, outputs)["instances"]["f2_i1_d5"]["evaluations"] == 3
    outputs["f2_i1_d5"] = forge(outputs["f2_i1_d5"])
    with pytest.raises(ev.InvalidSolution, match=f"instance f2_i1_d5: .*{needle}"):
        ev.score("train", DATA, outputs)


def test_values_are_recomputed_by_the_judge(ev):
    import ioh
    outputs = _points_for_every_run(ev)
    outputs["f2_i1_d5"] = np.empty((0, 5))  # a run that queried nothing scores 0, whatever it claimed
    r = ev.score("train", DATA, outputs)["instances"]
    assert r["f2_i1_d5"] == {"score": 0.0, "best_precision": None, "evaluations": 0, "function": "Ellipsoid"}
    p = ioh.get_problem(5, instance=2, dimension=5, problem_class=ioh.ProblemClass.BBOB)
    x = outputs["f5_i2_d5"]
    assert r["f5_i2_d5"]["best_precision"] == pytest.approx(min(p(v) for v in x) - p.optimum.y, rel=1e-12)
    del outputs["f7_i1_d5"]
    with pytest.raises(ev.InvalidSolution, match="f7_i1_d5: no points came back"):
        ev.score("train", DATA, outputs)
