"""problems/bbob: LLaMEA-style black-box optimization scored by AOCC on BBOB (needs `ioh`)."""

import importlib.util
import math
import types
from pathlib import Path

import numpy as np
import pytest

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


def _load(path: Path, name: str):
    spec = importlib.util.spec_from_file_location(name, path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _module(src: str):
    mod = types.ModuleType("cand")
    exec(src, mod.__dict__)
    return mod


@pytest.fixture(scope="module")
def ev():
    return _load(ROOT / "evaluate.py", "bbob_evaluate")


def test_random_search_train_baseline(ev):
    r = ev.evaluate(_load(ROOT / "seed.py", "bbob_seed"), "train", DATA)
    assert len(r["instances"]) == 16 and r["score"] == pytest.approx(0.0780, abs=1e-4)
    m = r["instances"]["f2_i1_d5"]
    assert m["function"] == "Ellipsoid" and m["evaluations"] == 10000 and 0 <= m["score"] <= 1


def test_es_beats_random_search(ev):
    r = ev.evaluate(_module(ES), "train", DATA)
    assert r["score"] == pytest.approx(0.2252, abs=1e-4)


def test_aocc_definition(ev):
    import ioh
    p = ioh.get_problem(1, instance=1, dimension=2, problem_class=ioh.ProblemClass.BBOB)
    f = ev.Function(p, budget=4)
    xopt = np.asarray(p.optimum.x)
    f(np.full(2, 5.0))           # far away
    n1 = (math.log10(min(f.best_y, 1e2)) + 8) / 10
    f(xopt)                      # the optimum (up to rounding of the stored x_opt)
    n2 = (math.log10(max(f.best_y, 1e-8)) + 8) / 10
    assert n2 < 0.05
    # curve [n1, n2] then padded with n2 for the 2 unused evaluations
    assert 0.9 < n1 <= 1 and f.aocc() == pytest.approx(1 - (n1 + 3 * n2) / 4)
    g = ev.Function(p, budget=2)
    g(xopt + 1e-2)               # precision ~ 1e-4 * curvature: in between
    prec = g.best_y
    assert g.aocc() == pytest.approx(1 - (math.log10(prec) + 8) / 10)


def test_llamea_style_class_is_accepted(ev):
    src = ES.replace("def optimize(func, budget, dim):", "def _es(func, budget, dim):") + '''
class Optimizer:
    def __init__(self, budget, dim):
        self.budget, self.dim = budget, dim
    def __call__(self, func):
        return _es(func, self.budget, self.dim)
'''
    assert ev.evaluate(_module(src), "train", DATA)["score"] == pytest.approx(0.2252, abs=1e-4)


def test_over_budget_ends_the_run_even_through_except_exception(ev):
    src = '''import numpy as np
def optimize(func, budget, dim):
    while True:
        try:
            func(np.zeros(dim))
        except Exception:
            pass
'''
    r = ev.evaluate(_module(src), "train", DATA)
    assert all(v["evaluations"] == 10000 for v in r["instances"].values())


@pytest.mark.parametrize("call,needle", [
    ("func(np.full(dim, 6.0))", "outside the search space"),
    ("func(np.zeros(dim + 1))", "shape"),
    ("func(np.full(dim, np.nan))", "non-finite"),
])
def test_bad_points_are_invalid(ev, call, needle):
    with pytest.raises(ev.InvalidSolution, match=needle):
        ev.evaluate(_module(f"import numpy as np\ndef optimize(func, budget, dim):\n    {call}\n"), "train", DATA)


def test_missing_entry_is_invalid(ev):
    with pytest.raises(ev.InvalidSolution, match="optimize"):
        ev.evaluate(_module("x = 1\n"), "train", DATA)
