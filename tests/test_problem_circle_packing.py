"""problems/circle_packing: the judge's exact feasibility checks, the seed's and program.py's scores, a known packing."""

import math
import re
from pathlib import Path

import numpy as np
import pytest

from discover.contract import evaluate_in_process, import_file
from discover.problem import load_problem

ROOT = Path(__file__).resolve().parent.parent / "problems" / "circle_packing"
DATA = str(ROOT / "data")


@pytest.fixture(scope="module")
def ev():
    return import_file(ROOT / "evaluate.py", "circle_packing_evaluate")


def _grid_packing(n=26):
    """25 circles of radius 0.1 on a 5 x 5 grid, and one in the corner touching the walls and circle 0:
    a circle at (rho, rho) of radius rho touches the one at (0.1, 0.1) when rho = 0.1 (3 - 2 sqrt 2)."""
    g = (np.arange(5) + 0.5) / 5
    centers = np.array([(x, y) for y in g for x in g] + [(0.0, 0.0)])
    radii = np.full(26, 0.1)
    rho = 0.1 * (3 - 2 * math.sqrt(2))
    centers[25] = (rho, rho)
    radii[25] = rho
    return {"centers": centers, "radii": radii}


def _readme_figure(set_name: str, what: str) -> float:
    """The seed's score as README.md states it (a row `| <what> | <n26> | <n32> |`)."""
    row = next(line for line in (ROOT / "README.md").read_text().splitlines() if line.startswith(f"| {what} |"))
    cells = [c.strip() for c in row.strip("|").split("|")]
    return float(cells[1 if set_name == "n26" else 2])


@pytest.mark.parametrize("set_name", ["n26", "n32"])
def test_seed_is_feasible_and_scores_what_the_readme_and_baselines_say(set_name):
    r = evaluate_in_process(ROOT, (ROOT / "seed.py").read_text(), set_name)
    n = int(set_name[1:])
    k = math.ceil(math.sqrt(n))
    assert r["score"] == pytest.approx(n / (2 * k), abs=1e-12)  # n inscribed circles of a k x k grid
    assert round(r["score"], 4) == _readme_figure(set_name, "grid (seed.py)")
    assert load_problem(str(ROOT)).spec.baselines["grid_seed"][set_name] == pytest.approx(r["score"], abs=1e-6)
    assert r["instances"][set_name]["bound"] == pytest.approx(math.sqrt(n / math.pi))


@pytest.mark.parametrize("set_name", ["n26", "n32"])
def test_program_file_has_one_evolve_block_and_scores_its_baseline(set_name):
    pytest.importorskip("scipy")
    src = (ROOT / "program.py").read_text()
    assert len(re.findall(r"^# EVOLVE-BLOCK-START$", src, re.M)) == 1
    assert len(re.findall(r"^# EVOLVE-BLOCK-END$", src, re.M)) == 1
    assert src.index("# EVOLVE-BLOCK-START") < src.index("def construct_packing(") < src.index("# EVOLVE-BLOCK-END")
    r = evaluate_in_process(ROOT, src, set_name)
    assert r["score"] == pytest.approx(load_problem(str(ROOT)).spec.baselines["row_layouts_lp_program"][set_name],
                                       abs=1e-6)
    assert round(r["score"], 4) == _readme_figure(set_name, "row layouts + LP radii (program.py)")


def test_a_known_packing_scores_its_sum(ev):
    out = _grid_packing()
    r = ev.score("n26", DATA, {"n26": out})["instances"]["n26"]
    assert r["score"] == pytest.approx(2.5 + 0.1 * (3 - 2 * math.sqrt(2)), abs=1e-15)
    assert r["smallest_radius"] == pytest.approx(0.1 * (3 - 2 * math.sqrt(2)))
    # a zero radius is allowed (a point), and ints are numbers too
    out["radii"][25] = 0.0
    assert ev.score("n26", DATA, {"n26": out})["score"] == pytest.approx(2.5, abs=1e-15)
    four = {"centers": np.array([[1, 1], [3, 1], [1, 3], [3, 3]]) / 4, "radii": np.full(4, 0.25)}
    assert float(ev.check_packing("t", four, 4)[1].sum()) == 1.0


def _forged(field, change):
    out = _grid_packing()
    out[field] = change(out[field].copy())
    return out


def _set(a, index, value):
    a[index] = value
    return a


@pytest.mark.parametrize("out,needle", [
    (_forged("centers", lambda c: _set(c, (3, 0), np.nan)), r"circle 3 has a non-finite centre"),
    (_forged("centers", lambda c: _set(c, (4, 1), np.inf)), r"circle 4 has a non-finite centre"),
    (_forged("radii", lambda r: _set(r, 5, np.inf)), r"circle 5 has a non-finite radius"),
    (_forged("radii", lambda r: _set(r, 6, np.nan)), r"circle 6 has a non-finite radius"),
    (_forged("radii", lambda r: _set(r, 7, -0.01)), r"circle 7 has a negative radius -0.01"),
    (_forged("centers", lambda c: _set(c, (2, 0), 0.95)), r"circle 2 .* reaches x above 1 by 0.05"),
    (_forged("centers", lambda c: _set(c, (20, 1), 0.05)), r"circle 20 .* reaches y below 0 by 0.05"),
    (_forged("radii", lambda r: _set(r, 12, 0.1 + 2e-9)), r"circles 7 and 12 overlap by 2e-09"),
    (_forged("centers", lambda c: _set(c, 1, c[0])), r"circles 0 and 1 overlap by 0.2"),
    (_forged("centers", lambda c: _set(c, 25, (0.03, 0.03))), r"circles 0 and 25 overlap by 0.0182"),
    (_forged("centers", lambda c: c[:25]), r"centers has shape \(25, 2\); expected \(26, 2\) \(exactly 26 circles\)"),
    (_forged("radii", lambda r: np.append(r, 0.0)), r"radii has shape \(27,\); expected \(26,\)"),
    (_forged("centers", lambda c: c.T), r"centers has shape \(2, 26\)"),
    (_forged("radii", lambda r: r.tolist()), r"radii must be a numeric array"),
    (_forged("radii", lambda r: r > 0), r"radii must be a numeric array"),
    ({"centers": np.zeros((26, 2))}, r"expected \{'centers'"),
    ([np.zeros((26, 2)), np.zeros(26)], r"expected \{'centers'"),
])
def test_infeasible_packings_are_invalid(ev, out, needle):
    with pytest.raises(ev.InvalidSolution, match=f"instance n26: {needle}"):
        ev.score("n26", DATA, {"n26": out})


def test_tolerance_is_absolute_1e_9(ev):
    ok = _forged("radii", lambda r: _set(r, 12, 0.1 + 0.5e-9))  # overlaps circle 7 by 5e-10: within the tolerance
    ev.score("n26", DATA, {"n26": ok})
    out = _forged("centers", lambda c: _set(c, (4, 0), 0.9 + 0.5e-9))  # leaves the square by 5e-10
    ev.score("n26", DATA, {"n26": out})
    out = _forged("centers", lambda c: _set(c, (4, 0), 0.9 + 2e-9))
    with pytest.raises(ev.InvalidSolution, match="circle 4 .* reaches x above 1 by 2e-09"):
        ev.score("n26", DATA, {"n26": out})
    with pytest.raises(ev.InvalidSolution, match="no packing came back"):
        ev.score("n26", DATA, {})


@pytest.mark.parametrize("body,needle", [
    ("return np.zeros((n, 2))", r"must return a tuple \(centers, radii\), got ndarray"),
    ("return np.zeros((n, 2)), np.zeros(n), 1.0", r"got tuple of 3"),
    ("return np.zeros((n - 1, 2)), np.zeros(n)", r"centers has shape \(25, 2\); expected \(26, 2\)"),
    ("return np.zeros((n, 2)), ['a'] * n", r"radii is not an array of numbers"),
])
def test_bad_returns_are_invalid_on_the_candidate_side(body, needle):
    # The candidate side is its own import of evaluate.py (as in the sandbox), so its InvalidSolution is another class.
    with pytest.raises(Exception, match=needle) as info:
        evaluate_in_process(ROOT, f"import numpy as np\ndef construct_packing(n):\n    {body}\n", "n26")
    assert type(info.value).__name__ == "InvalidSolution"


def test_missing_entry_is_invalid():
    with pytest.raises(Exception, match="construct_packing") as info:
        evaluate_in_process(ROOT, "x = 1\n", "n26")
    assert type(info.value).__name__ == "InvalidSolution"


def test_public_data_is_the_circle_count(ev):
    assert ev.public("n26", DATA) == {"n26": {"n": 26}} and ev.public("n32", DATA) == {"n32": {"n": 32}}
    assert ev.hidden("n26", DATA) == []
