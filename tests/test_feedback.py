from discover.feedback import Outcome, Reference, candidate_feedback, lessons
from tests.test_problem_loading import make_problem
from discover.problem import load_problem


def _problem(tmp_path):
    return load_problem(str(make_problem(tmp_path / "toy")))


def test_directional_feedback_names_improved_and_regressed_instances(tmp_path):
    problem = _problem(tmp_path)
    parent = Reference("p1", "greedy", Outcome("ok", 10.0, {"a": 10.0, "b": 10.0, "c": 10.0}))
    mine = Outcome("ok", 8.0, {"a": 5.0, "b": 9.0, "c": 10.5}, duration_s=1.2)
    text = candidate_feedback(problem, "look ahead one step", mine, parent, parent)
    assert "vs parent (10): better by 2; improved on 2/3 instances (most: a -5), regressed on 1/3 (most: c +0.5)" in text
    assert "Do more of: look ahead one step" in text
    assert text.count("vs ") == 1  # the best is the parent: not compared twice


def test_regression_against_best_is_a_stop_line(tmp_path):
    problem = _problem(tmp_path)
    parent = Reference("p1", "", Outcome("ok", 10.0, {"a": 10.0}))
    best = Reference("b1", "", Outcome("ok", 4.0, {"a": 4.0}))
    text = candidate_feedback(problem, "random restarts", Outcome("ok", 12.0, {"a": 12.0}), parent, best)
    assert "vs best so far (4): worse by 8" in text and "Stop doing: random restarts" in text


def test_failure_feedback_carries_error_and_trimmed_traceback(tmp_path):
    problem = _problem(tmp_path)
    tb = "\n".join(f"  line {i}" for i in range(50)) + "\nZeroDivisionError: division by zero"
    text = candidate_feedback(problem, "", Outcome("error", error="ZeroDivisionError: division by zero", traceback=tb),
                              None, None)
    assert text.startswith("Result: ERROR: ZeroDivisionError: division by zero")
    assert "line 49" in text and "line 10" not in text
    assert "Stop doing: it raised an exception (ZeroDivisionError: division by zero)." in text
    dup = candidate_feedback(problem, "", Outcome("duplicate", error="same code as candidate abc123"), None, None)
    assert "Stop doing: it was identical to an earlier candidate." in dup and "abc123" not in dup.splitlines()[-1]


def test_lessons_are_newest_first_and_distinct():
    texts = ["Do more of: A", "Stop doing: B\nDo more of: A", "Do more of: C"]
    assert lessons(texts) == ["Do more of: C", "Stop doing: B", "Do more of: A"]
