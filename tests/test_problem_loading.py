import shutil
from pathlib import Path

import pytest

from discover.errors import ProblemError
from discover.problem import load_problem

GOOD_TOML = '''
name = "toy"
kind = "code"
description = "Return a number."
[entry]
name = "solve"
signature = "def solve(x: float) -> float:"
docstring = "Return something close to x squared."
[score]
direction = "minimize"
unit = "abs error"
[splits]
train = ["small"]
test = ["big"]
'''


def make_problem(root: Path, toml: str = GOOD_TOML, seed: str = "def solve(x):\n    return x\n",
                 evaluate: str = ("def public(instance_set, data_dir):\n    return {'a': {}}\n"
                                  "def score(instance_set, data_dir, outputs):\n    return {'instances': {}}\n"
                                  "def run(candidate, data):\n    return None\n")) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "problem.toml").write_text(toml)
    if seed is not None:
        (root / "seed.py").write_text(seed)
    if evaluate is not None:
        (root / "evaluate.py").write_text(evaluate)
    return root


def test_loads_a_good_problem_by_path(tmp_path):
    p = load_problem(str(make_problem(tmp_path / "toy")))
    assert p.name == "toy" and p.minimize and p.spec.entry.name == "solve"
    assert p.better(1.0, 2.0) and not p.better(None, 2.0) and p.better(5.0, None)


@pytest.mark.parametrize("mutate,message", [
    (lambda r: (r / "problem.toml").write_text("name = [unclosed"), "not valid TOML"),
    (lambda r: (r / "problem.toml").write_text(GOOD_TOML.replace('direction = "minimize"', 'direction = "down"')),
     "score.direction"),
    (lambda r: (r / "problem.toml").write_text(GOOD_TOML.replace('train = ["small"]', "train = []")), "splits.train"),
    (lambda r: (r / "problem.toml").write_text(GOOD_TOML.replace("def solve(", "def other(")),
     "entry.signature must define `def solve"),
    (lambda r: (r / "seed.py").unlink(), "missing seed.py"),
    (lambda r: (r / "evaluate.py").unlink(), "missing evaluate.py"),
    (lambda r: (r / "evaluate.py").write_text("x = 1\n"), "defines no public(), score(), run()"),
    (lambda r: (r / "seed.py").write_text("def other(x):\n    return x\n"), "does not define the entry function `solve`"),
])
def test_broken_problem_folder_gets_one_clear_line(tmp_path, mutate, message):
    root = make_problem(tmp_path / "toy")
    mutate(root)
    with pytest.raises(ProblemError) as info:
        load_problem(str(root))
    assert message in str(info.value)
    assert "\n" not in str(info.value)


def test_unknown_problem_lists_the_builtin_ones():
    with pytest.raises(ProblemError, match="no problem named 'nope'"):
        load_problem("nope")
