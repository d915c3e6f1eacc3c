"""discover.scaffold: a fresh scaffold passes check_problem; each deliberate breakage is explained."""

import importlib.util
import itertools
from pathlib import Path

import numpy as np
import pytest

from discover.errors import ProblemError
from discover.problem import load_problem
from discover.scaffold import CheckResult, check_problem, new_problem


def _failures(results: list[CheckResult]) -> dict[str, str]:
    return {r.name: r.message for r in results if not r.ok}


@pytest.fixture
def fresh(tmp_path) -> Path:
    return new_problem("knap", tmp_path)


def test_fresh_scaffold_passes_every_check(fresh):
    assert sorted(p.name for p in fresh.iterdir()) == ["data", "evaluate.py", "problem.toml", "seed.py"]
    results = check_problem(fresh)
    assert _failures(results) == {}
    names = [r.name for r in results]
    assert names == ["schema", "evaluator", "seed", "set:train", "set:test", "deterministic", "baselines"]
    p = load_problem(str(fresh))
    assert p.name == "knap" and p.minimize and p.spec.baselines["value_density"]["train"] > 0


def test_example_evaluator_optimum_is_exact(fresh):
    spec = importlib.util.spec_from_file_location("knap_eval", fresh / "evaluate.py")
    ev = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(ev)
    rng = np.random.default_rng(0)
    for _ in range(20):
        v, w = rng.integers(1, 30, 8), rng.integers(1, 20, 8)
        cap = int(w.sum() // 2)
        brute = max(sum(v[list(c)]) for r in range(9) for c in itertools.combinations(range(8), r)
                    if sum(w[list(c)]) <= cap)
        assert ev.optimal_value(v, w, cap) == brute


def test_new_problem_refuses_bad_names_and_existing_folders(tmp_path, fresh):
    with pytest.raises(ProblemError, match="already exists"):
        new_problem("knap", fresh.parent)
    with pytest.raises(ProblemError, match="not allowed"):
        new_problem("Bad Name!", tmp_path)


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, old
    path.write_text(text.replace(old, new))


def test_schema_breakage(fresh):
    _edit(fresh / "problem.toml", 'direction = "minimize"', 'direction = "down"')
    res = check_problem(fresh)
    assert len(res) == 1 and res[0].name == "schema" and not res[0].ok
    assert "score.direction" in res[0].message and "\n" not in res[0].message


def test_evaluator_import_error(fresh):
    (fresh / "evaluate.py").write_text("import numpy as np\nraise RuntimeError('boom at import')\n"
                                       "def public(instance_set, data_dir):\n    pass\n"
                                       "def score(instance_set, data_dir, outputs):\n    pass\n"
                                       "def run(candidate, data):\n    pass\n")
    f = _failures(check_problem(fresh))
    assert f == {"evaluator": "evaluate.py does not import: RuntimeError: boom at import (evaluate.py line 2)"}


def test_missing_invalid_solution_class(fresh):
    _edit(fresh / "evaluate.py", "class InvalidSolution(Exception):\n    pass\n", "")
    _edit(fresh / "evaluate.py", "        raise InvalidSolution(", "        raise ValueError(")
    f = _failures(check_problem(fresh))
    assert list(f) == ["evaluator"] and "InvalidSolution" in f["evaluator"]


def test_seed_that_crashes(fresh):
    (fresh / "seed.py").write_text("import numpy as np\n\ndef priority(values, weights, capacity):\n    return values / 0 + [][1]\n")
    f = _failures(check_problem(fresh))
    assert set(f) == {"set:train", "set:test", "deterministic"}
    assert f["set:train"] == "evaluating the seed failed on instance set 'train': IndexError: list index out of range (seed line 4)"
    assert f["deterministic"].startswith("not checked")


def test_seed_that_is_invalid(fresh):
    (fresh / "seed.py").write_text("import numpy as np\n\ndef priority(values, weights, capacity):\n    return values[:1]\n")
    f = _failures(check_problem(fresh))
    assert f["set:train"].startswith("the seed is invalid on instance set 'train': InvalidSolution: priority returned shape (1,)")


def test_seed_without_entry(fresh):
    (fresh / "seed.py").write_text("def something_else():\n    pass\n")
    f = _failures(check_problem(fresh))
    assert list(f) == ["schema"] and "does not define the entry function `priority`" in f["schema"]


def test_seed_that_does_not_import(fresh):
    (fresh / "seed.py").write_text("import numpy_not_there\n\ndef priority(values, weights, capacity):\n    return values\n")
    f = _failures(check_problem(fresh))
    assert f == {"seed": "seed.py does not import: ModuleNotFoundError: No module named 'numpy_not_there' (seed line 1)"}


def test_nondeterministic_evaluator(fresh):
    _edit(fresh / "evaluate.py", '"score": 100.0 * (best - got) / best,',
          '"score": 100.0 * (best - got) / best + np.random.random(),')
    f = _failures(check_problem(fresh))
    assert list(f) == ["deterministic"]
    assert f["deterministic"].startswith("two evaluations of the seed on 'train' differ") and "seed every random" in f["deterministic"]


def test_instance_set_that_does_not_load(fresh):
    (fresh / "data" / "test.json").unlink()
    f = _failures(check_problem(fresh))
    assert list(f) == ["set:test"]
    assert f["set:test"].startswith("evaluating the seed failed on instance set 'test': FileNotFoundError:")


def test_malformed_results(fresh):
    _edit(fresh / "evaluate.py", '"score": 100.0 * (best - got) / best,', '"score": float("nan"),')
    f = _failures(check_problem(fresh))
    assert "has no finite numeric 'score'" in f["set:train"]
    _edit(fresh / "evaluate.py", 'return {"instances": results,', 'return {"instancez": results,')
    f = _failures(check_problem(fresh))
    assert "returned no 'instances' dict" in f["set:train"]


def test_too_slow_for_the_limit(fresh):
    _edit(fresh / "problem.toml", "timeout_s = 30", "timeout_s = 0.000001")
    f = _failures(check_problem(fresh))
    assert "over limits.timeout_s" in f["set:train"]


def test_baseline_on_unknown_set(fresh):
    _edit(fresh / "problem.toml", "value_density = {", "value_density = { holdout = 1.0, ")
    assert _failures(check_problem(fresh)) == {"baselines": "[baselines] name instance sets not in [splits]: value_density.holdout"}


def test_custom_evaluate_fn_is_used(fresh):
    calls = []

    def fake(problem, code, instance_set):
        calls.append(instance_set)
        return {"instances": {"a": {"score": 1.0}}}

    assert _failures(check_problem(fresh, evaluate_fn=fake)) == {}
    assert calls == ["train", "test", "train"]


@pytest.mark.parametrize("name", ["tsp", "binpack", "optimizer", "bbob"])
def test_builtin_problems_pass_check(name):
    if name == "bbob":
        pytest.importorskip("ioh")
    root = Path(__file__).resolve().parent.parent / "problems" / name
    # the full check evaluates every set twice-ish; only the schema/import/train part here, sets faked
    res = check_problem(root, evaluate_fn=lambda p, c, s: {"instances": {"x": {"score": 0.0}}})
    assert _failures(res) == {}
