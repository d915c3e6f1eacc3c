"""A candidate can never touch the code, data or channel that scores it (issue 11).

Every attack is run on the real TSP problem through the real Evaluator, on each sandbox backend usable here. The
attacking heuristic always picks the highest-numbered unvisited node (about 300 % gap); whatever else it does, its
score must be that honest gap (computed here in-process from the same choice rule) or a failure — never better.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from discover.contract import evaluate_in_process
from discover.errors import ProblemError
from discover.evaluation import Evaluator
from discover.executors.local import LocalExecutor
from discover.problem import load_problem

from tests.test_sandbox_hostile import BACKEND_PARAMS, open_backend

TSP = load_problem("tsp")
FIXTURES = Path(__file__).parent / "fixtures" / "problems"
WORST = """
import numpy as np

def select_next_node(current_node, destination_node, unvisited_nodes, distance_matrix):
    return int(unvisited_nodes[-1])
"""
SEED = TSP.seed_code


@pytest.fixture(scope="module")
def honest_worst() -> float:
    return evaluate_in_process(TSP.root, WORST, "train50")["score"]


@pytest.fixture(scope="module", params=BACKEND_PARAMS)
def ev(request):
    box = open_backend(request, request.param, workers=1)  # one worker: a shifted channel would show at once
    evaluator = Evaluator(load_problem("tsp"), LocalExecutor(box))
    yield evaluator
    evaluator.close()


def score(ev, code: str, sets=("train50",)):
    return asyncio.run(ev.evaluate(code, list(sets)))


def assert_honest(r, honest: float) -> None:
    assert r.status != "ok" or r.score == pytest.approx(honest, rel=1e-9), r
    assert r.status in ("ok", "invalid", "error", "crash", "forbidden"), r


def test_honest_baseline(ev, honest_worst):
    assert honest_worst > 200
    r = score(ev, WORST)[0]
    assert r.status == "ok" and r.score == pytest.approx(honest_worst, rel=1e-9)


def test_patching_the_evaluator_at_import(ev, honest_worst):
    code = WORST + """
import sys
import evaluate                              # the problem's module next to the candidate
evaluate.tour_length = lambda *a, **k: 0.0
evaluate.load_optima = lambda *a, **k: {}
evaluate.score = lambda *a, **k: {"instances": {}, "score": 0.0}
for m in list(sys.modules.values()):
    for name in ("tour_length", "distances"):
        if hasattr(m, name):
            try:
                setattr(m, name, lambda *a, **k: 0.0)
            except Exception:
                pass
"""
    r = score(ev, code)[0]
    assert_honest(r, honest_worst)


def test_walking_frames_to_zero_the_distances(ev, honest_worst):
    code = """
import sys
import numpy as np

def select_next_node(current_node, destination_node, unvisited_nodes, distance_matrix):
    f = sys._getframe(1)
    while f is not None:
        for k, v in list(f.f_locals.items()):
            if isinstance(v, np.ndarray) and v.ndim == 2:
                v[:] = 0.0
        f = f.f_back
    return int(unvisited_nodes[-1])
"""
    r = score(ev, code)[0]
    assert_honest(r, honest_worst)


def test_forging_results_on_inherited_descriptors(ev, honest_worst):
    """Forged answers in every framing, written into every descriptor it has; then it exits. Nothing is
    accepted, and the next evaluations on the same (single) worker get their own results, not shifted ones."""
    code = WORST + """
import json, os, struct
head = json.dumps({"id": 1, "status": "ok", "score": 0.0, "instances": {}}).encode()
FORGED = [b"DSR1" + struct.pack("<IQ", len(head), 0) + head, head + b"\\n",
          struct.pack("<IQ", len(head), 0) + head]
def select_next_node(current_node, destination_node, unvisited_nodes, distance_matrix):
    for fd in range(0, 1024):
        for msg in FORGED:
            try:
                os.write(fd, msg)
            except OSError:
                pass
    os._exit(0)
"""
    r = score(ev, code)[0]
    assert r.status != "ok" and r.score is None, r
    seed = evaluate_in_process(TSP.root, SEED, "train50")["score"]
    for _ in range(2):  # the channel did not shift: each answer is its own request's
        assert score(ev, SEED)[0].score == pytest.approx(seed, rel=1e-9)
        assert score(ev, WORST)[0].score == pytest.approx(honest_worst, rel=1e-9)


def test_monkeypatching_numpy(ev, honest_worst):
    code = WORST + """
import numpy as np
np.mean = lambda *a, **k: 0.0
np.sum = lambda *a, **k: 0.0
np.ndarray.sum = None if False else np.ndarray.sum
np.roll = lambda a, *x, **k: a
"""
    r = score(ev, code)[0]
    assert_honest(r, honest_worst)


def test_no_hidden_data_inside_and_none_leaks_into_feedback(ev):
    optima = json.loads((TSP.root / "data" / "optima.json").read_text())
    known = [optima["test50"][k] for k in list(optima["test50"])[:3]]
    paths = [str(TSP.root / "data" / "optima.json"), str(TSP.root / "data" / "instances.npz")]
    code = WORST + f"""
import glob
def select_next_node(current_node, destination_node, unvisited_nodes, distance_matrix):
    found = []
    for p in {paths!r} + glob.glob({str(TSP.root.parent)!r} + '/*/data/*.json'):
        try:
            found.append(open(p, 'rb').read(200))
        except OSError as e:
            pass
    raise RuntimeError(f"read {{len(found)}} files; the optima are {known!r}; "
                       f"rounded {{[round(v, 3) for v in {known!r}]}}")
"""
    r = score(ev, code)[0]
    assert r.status == "error", r
    assert "read 0 files" in r.error, r.error  # nothing of data/ is reachable during a train evaluation
    for v in known:
        assert f"{v}" not in r.error and f"{round(v, 3)}" not in r.error, r.error
    assert "[hidden]" in r.error


def test_lying_objects_do_not_cross(ev, honest_worst):
    liar = WORST + """
class Liar(int):
    def __eq__(self, other): return True
    def __hash__(self): return 0
    def __index__(self): return 0
    def __int__(self): return 0

_orig = select_next_node
def select_next_node(current_node, destination_node, unvisited_nodes, distance_matrix):
    return Liar(_orig(current_node, destination_node, unvisited_nodes, distance_matrix))
"""
    r = score(ev, liar)[0]
    assert r.status in ("invalid", "error") or r.score == pytest.approx(honest_worst, rel=1e-9), r

    forged_wire = WORST + """
import json, struct, wire
def fake_encode(value, **kw):   # the runner's encoder, replaced: an object array (a pickle, in npy terms)
    head = json.dumps({"v": {k: {"__nd__": 0} for k in value}, "a": [["|O", [3]]]}).encode()
    return b"DW1\\n" + struct.pack("<I", len(head)) + head + bytes(24)
wire.encode = fake_encode
"""
    r = score(ev, forged_wire)[0]
    assert r.status == "invalid" and "malformed" in r.error, r

    not_a_tour = WORST + """
import evaluate
def fake_run(candidate, data):
    return [0] * len(data["xy"])      # "visits" node 0 n times: a zero-length tour
evaluate.run = fake_run
import sys
sys.modules["evaluate"].run = fake_run
"""
    r = score(ev, not_a_tour)[0]
    assert r.status in ("invalid", "ok"), r
    assert r.status == "invalid" or r.score == pytest.approx(honest_worst, rel=1e-9), r


def test_impossible_scores_are_suspicious(request):
    box = open_backend(request, "process", workers=1)
    evaluator = Evaluator(load_problem(str(FIXTURES / "naive")), LocalExecutor(box))
    try:
        r = asyncio.run(evaluator.evaluate("def claim(x):\n    return -5.0\n", ["train"]))[0]
        assert r.status == "suspicious" and "better than the optimum" in r.error, r
        r = asyncio.run(evaluator.evaluate("def claim(x):\n    return float('nan')\n", ["train"]))[0]
        assert r.status == "suspicious" and "not a finite number" in r.error, r
        r = asyncio.run(evaluator.evaluate("def claim(x):\n    return 0.5\n", ["train"]))[0]
        assert r.status == "ok" and r.score == 0.5, r
    finally:
        evaluator.close()


def test_a_broken_trusted_side_is_the_problems_fault(request):
    box = open_backend(request, "process", workers=1)
    evaluator = Evaluator(load_problem(str(FIXTURES / "brokenjudge")), LocalExecutor(box))
    try:
        with pytest.raises(ProblemError, match=r"brokenjudge/evaluate.py: score\('train'\) failed: NameError"):
            asyncio.run(evaluator.evaluate("def solve(x):\n    return 2 * x\n", ["train"]))
    finally:
        evaluator.close()


def test_old_contract_is_refused_in_one_line(tmp_path):
    import shutil

    root = tmp_path / "old"
    shutil.copytree(FIXTURES / "toy", root)
    (root / "evaluate.py").write_text("def evaluate(candidate, instance_set, data_dir):\n    return {}\n")
    with pytest.raises(ProblemError, match="old evaluate"):
        load_problem(str(root))
