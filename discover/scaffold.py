"""Scaffolding for users' own problems: `new_problem` writes a small working problem folder to start from,
`check_problem` says whether a folder is ready to run and, if not, what is wrong (one line per failure).

The CLI's `discover problem new NAME` and `discover problem check NAME` call these."""

from __future__ import annotations

import importlib.util
import itertools
import json
import math
import re
import sys
import time
import traceback
import types
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np

from discover.errors import ProblemError
from discover.problem import Problem, load_problem

_NAME_RE = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
_counter = itertools.count()


# ------------------------------------------------------------------------------------------------- new problem

_PROBLEM_TOML = '''# problem.toml: what discover needs to know about your problem. Edit freely; `discover problem check {root}`
# tells you if something is off (give the folder's path: a bare name means a built-in problem).
name = "{name}"
kind = "code"          # "code": the LLM writes a Python function. ("prompt": it writes a prompt text.)

# One paragraph shown to the LLM: what the function is for and what "good" means.
description = """Greedy 0/1 knapsack. Items with integer weights and values are packed in the order of a \\
priority score; an item is taken if it still fits. Write the priority function so that the greedy packing \\
collects as much value as possible. Score: % of the optimal value missed (lower is better)."""

[entry]
# The function the LLM writes. The signature and docstring go into prompts verbatim; seed.py must define it.
name = "priority"
signature = "def priority(values: np.ndarray, weights: np.ndarray, capacity: int) -> np.ndarray:"
docstring = """Returns one score per item; items are considered in decreasing score order and taken if they fit.

Args:
    values: 1-D int array, the value of each item (1..100).
    weights: 1-D int array, the weight of each item (1..50).
    capacity: the knapsack's capacity.
Returns:
    A float array with one finite score per item."""
imports = "import numpy as np"   # what the function may assume is already imported

[score]
direction = "minimize" # or "maximize"
unit = "% of optimal value missed"
optimum = 0.0 # the score of an optimal solution, if known: shown as a reference row in the leaderboard

[limits]
timeout_s = 30         # wall clock for one evaluate() call on one instance set
memory_mb = 1024

[splits]
# Instance-set names, passed to evaluate() as `instance_set`. The search only ever sees `train`;
# `test` sets are held out and used to re-score the best candidates.
train = ["train"]
test = ["test"]

[baselines]
# name -> {{instance set -> score}}; shown beside results. Measured with the seed:
value_density = {{ train = {train_seed}, test = {test_seed} }}
'''

_EVALUATE_PY = '''\"\"\"Evaluator for the `{name}` problem, in two halves that run in different processes
(docs/problem-contract.md in discover's repository):

  trusted side (the judge: reads data/, never runs candidate code)
    public(instance_set, data_dir) -> {{instance_id: what the candidate may see}}
    score(instance_set, data_dir, outputs) -> {{"instances": {{instance_id: {{"score": float, ...}}}}, "score": float}}
  candidate side (inside the sandbox, with the candidate; sees only what public() returned)
    run(candidate, data) -> the instance's output as plain data (numbers, lists, dicts, str, numpy arrays)

Why two halves: candidate code is adversarial. If it ran in the process that scores it, it could patch the
scorer, walk its frames or read the answers. Here the candidate only ever gets public data, and score() re-checks
and measures whatever came back with data the candidate never saw.

Raise InvalidSolution (this class name matters) when an output breaks the rules; the message is shown to the
LLM, so say what was wrong. Keep it deterministic: the same candidate must get the same numbers every time.
Uses only the standard library and numpy.
\"\"\"

import json
import os

import numpy as np


class InvalidSolution(Exception):
    pass


def load_instances(instance_set, data_dir):
    with open(os.path.join(data_dir, instance_set + ".json")) as f:
        return json.load(f)


def optimal_value(values, weights, capacity):
    \"\"\"Exact optimum by dynamic programming over capacities (fine for small integer instances).
    best[c] = the most value that fits in capacity c using the items seen so far; the right-hand side is
    computed from the previous row before assignment, so each item is used at most once.\"\"\"
    best = np.zeros(capacity + 1, dtype=np.int64)
    for v, w in zip(values, weights):
        if 1 <= w <= capacity:
            best[w:] = np.maximum(best[w:], best[:-w] + v)
    return int(best[capacity])


# ---- trusted side ----

def public(instance_set, data_dir):
    \"\"\"The items and the capacity are public; the optimum is not (score() computes it here).\"\"\"
    return load_instances(instance_set, data_dir)


def score(instance_set, data_dir, outputs):
    instances = load_instances(instance_set, data_dir)
    results = {{}}
    for inst_id, chosen in outputs.items():
        inst = instances[inst_id]
        values = np.array(inst["values"], dtype=np.int64)
        weights = np.array(inst["weights"], dtype=np.int64)
        capacity = int(inst["capacity"])
        picked = np.asarray(chosen)
        if picked.ndim != 1 or not np.issubdtype(picked.dtype, np.integer) or len(set(picked.tolist())) != picked.size \\
                or (picked.size and (picked.min() < 0 or picked.max() >= values.size)):
            raise InvalidSolution(f"instance {{inst_id}}: the output must be distinct item indices")
        if weights[picked].sum() > capacity:
            raise InvalidSolution(f"instance {{inst_id}}: the chosen items weigh more than the capacity")
        got = int(values[picked].sum())
        best = optimal_value(values, weights, capacity)
        results[inst_id] = {{"score": 100.0 * (best - got) / best, "value": got, "optimum": best}}
    return {{"instances": results, "score": float(np.mean([r["score"] for r in results.values()]))}}


# ---- candidate side ----

def run(candidate, data):
    \"\"\"Greedy packing in the order of the candidate's priority scores; returns the indices of the items taken.\"\"\"
    if not callable(getattr(candidate, "priority", None)):
        raise InvalidSolution("the candidate defines no function `priority(values, weights, capacity)`")
    values = np.array(data["values"], dtype=np.int64)
    weights = np.array(data["weights"], dtype=np.int64)
    capacity = int(data["capacity"])
    scores = np.asarray(candidate.priority(values.copy(), weights.copy(), capacity), dtype=float)
    if scores.shape != values.shape:
        raise InvalidSolution(f"priority returned shape {{scores.shape}}; expected one score per item {{values.shape}}")
    if not np.all(np.isfinite(scores)):
        raise InvalidSolution("priority returned a non-finite score")
    room, taken = capacity, []
    for i in np.argsort(-scores, kind="stable"):  # highest score first; ties keep item order
        if weights[i] <= room:
            room -= int(weights[i])
            taken.append(int(i))
    return taken
'''

_SEED_PY = '''"""The starting heuristic: a complete, working version of the entry function. The search begins here."""

import numpy as np


def priority(values: np.ndarray, weights: np.ndarray, capacity: int) -> np.ndarray:
    """Value density: take the items with the most value per unit of weight first."""
    return values / weights
'''

_DATA_README = """Instances for the `{name}` problem: one JSON file per instance set, named <set>.json, mapping an instance
id to {{"values": [...], "weights": [...], "capacity": int}}. Generated by discover's scaffold with a fixed seed
({seed}); replace them with your own data (and say where it comes from and under which licence).
"""


def _knapsack_instances(rng: np.random.Generator, prefix: str, count: int, n_items: int) -> dict:
    out = {}
    for i in range(count):
        weights = rng.integers(1, 51, n_items)
        values = np.clip(weights + rng.integers(-10, 31, n_items), 1, 100)  # correlated, as in hard instances
        out[f"{prefix}_{i}"] = {
            "values": [int(v) for v in values],
            "weights": [int(w) for w in weights],
            "capacity": int(weights.sum() // 3),
        }
    return out


def new_problem(name: str, parent_dir: str | Path) -> Path:
    """Write parent_dir/name/ (problem.toml, evaluate.py, seed.py, data/) holding a tiny working example problem
    (greedy knapsack) with explanatory comments; return the folder. Refuses to overwrite an existing folder."""
    if not _NAME_RE.match(name):
        raise ProblemError(
            f"problem name {name!r} is not allowed: use lower-case letters, digits and _, starting with a letter",
            problem=name,
        )
    root = Path(parent_dir).expanduser() / name
    if root.exists():
        raise ProblemError(f"{root} already exists; choose another name or remove it first", path=str(root))
    data = root / "data"
    data.mkdir(parents=True)
    seed = 12345
    rng = np.random.default_rng(seed)
    (data / "train.json").write_text(json.dumps(_knapsack_instances(rng, "train", 8, 30), indent=1) + "\n")
    (data / "test.json").write_text(json.dumps(_knapsack_instances(rng, "test", 8, 60), indent=1) + "\n")
    (data / "README.md").write_text(_DATA_README.format(name=name, seed=seed))
    (root / "evaluate.py").write_text(_EVALUATE_PY.format(name=name))
    (root / "seed.py").write_text(_SEED_PY)
    # Measure the seed so the baselines in problem.toml are real numbers.
    from discover.contract import evaluate_in_process as both_halves

    seed_code = (root / "seed.py").read_text()
    scores = {s: round(both_halves(root, seed_code, s)["score"], 4) for s in ("train", "test")}
    (root / "problem.toml").write_text(_PROBLEM_TOML.format(name=name, root=root, train_seed=scores["train"],
                                                            test_seed=scores["test"]))
    return root


# ------------------------------------------------------------------------------------------------- check


@dataclass(frozen=True)
class CheckResult:
    name: str      # "schema", "evaluator", "seed", "set:<name>", "deterministic", "baselines"
    ok: bool
    message: str   # one line: what was checked, or what is wrong and how to fix it

    def __str__(self) -> str:
        return f"{'ok  ' if self.ok else 'FAIL'} {self.name}: {self.message}"


# (problem, candidate code, instance set) -> the evaluator's result dict; raises on any failure.
EvaluateFn = Callable[[Problem, str, str], dict]


def _import_file(path: Path, label: str) -> types.ModuleType:
    """Import a file as a fresh module under a unique name (no sys.modules caching between calls)."""
    mod_name = f"_discover_check_{label}_{next(_counter)}"
    spec = importlib.util.spec_from_file_location(mod_name, path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot import {path}")
    mod = importlib.util.module_from_spec(spec)
    sys.modules[mod_name] = mod  # dataclasses and pickling look modules up here
    try:
        spec.loader.exec_module(mod)
    finally:
        sys.modules.pop(mod_name, None)
    return mod


def evaluate_in_process(problem: Problem, code: str, instance_set: str) -> dict:
    """Default EvaluateFn: both halves of the contract in this process, through the wire format."""
    from discover.contract import evaluate_in_process as both_halves

    return both_halves(problem.root, code, instance_set, problem.spec.sandbox.files)


def _one_line(exc: BaseException) -> str:
    text = f"{type(exc).__name__}: {exc}".strip().splitlines()
    line = text[0] if text else type(exc).__name__
    return line if len(line) <= 240 else line[:237] + "..."


def _where(exc: BaseException) -> str:
    """' (evaluate.py line 12)' for the innermost frame in the problem's own files, else ''."""
    frames = traceback.extract_tb(exc.__traceback__)
    for fr in reversed(frames):
        base = Path(fr.filename).name
        if base in ("evaluate.py", "seed.py") or fr.filename in ("<candidate>", "candidate.py"):
            return f" ({'seed' if fr.filename in ('<candidate>', 'candidate.py') else base} line {fr.lineno})"
    return ""


def _validate_result(result: Any) -> str | None:
    """None if `result` has the shape evaluate() must return, else what is wrong."""
    if not isinstance(result, dict):
        return f"score() returned {type(result).__name__}; it must return a dict with an 'instances' dict"
    inst = result.get("instances")
    if not isinstance(inst, dict):
        return "score() returned no 'instances' dict ({instance_id: {'score': float, ...}})"
    if not inst:
        return "score() returned an empty 'instances' dict: does public() return no instances for this set?"
    for key, metrics in inst.items():
        score = metrics.get("score") if isinstance(metrics, dict) else None
        if not isinstance(score, (int, float)) or isinstance(score, bool) or not math.isfinite(score):
            return f"instance {key!r} has no finite numeric 'score' (got {metrics!r:.80})"
    if "score" in result:
        s = result["score"]
        if not isinstance(s, (int, float)) or isinstance(s, bool) or not math.isfinite(s):
            return f"the top-level 'score' is not a finite number (got {s!r:.80})"
    return None


def _set_score(result: dict) -> float:
    if "score" in result:
        return float(result["score"])
    return float(np.mean([m["score"] for m in result["instances"].values()]))


def _fingerprint(result: dict) -> dict:
    return {"score": _set_score(result), **{k: float(v["score"]) for k, v in result["instances"].items()}}


def check_problem(path: str | Path, evaluate_fn: EvaluateFn | None = None) -> list[CheckResult]:
    """Validate a problem folder: schema, evaluator and seed import, the seed runs on every instance set in
    [splits] within the time limit and returns well-formed scores, the evaluator is deterministic, baselines
    name known sets. Returns one CheckResult per check, in check order; later checks are skipped when an
    earlier one makes them meaningless (bad schema, evaluator or seed that does not import). Never raises for
    problems in the folder; `evaluate_fn` lets the caller run evaluations in the sandbox instead of in-process."""
    evaluate_fn = evaluate_fn or evaluate_in_process
    results: list[CheckResult] = []
    try:
        problem = load_problem(str(path))
    except ProblemError as exc:
        return [CheckResult("schema", False, exc.message)]
    spec = problem.spec
    results.append(CheckResult("schema", True, f"problem.toml is valid ({spec.kind} problem, entry `{spec.entry.name}`)"))
    if spec.kind != "code":
        results.append(CheckResult("seed", True, "prompt problem: nothing to import"))
        return results

    try:
        evaluator = _import_file(problem.root / "evaluate.py", "evaluate")
    except BaseException as exc:  # noqa: BLE001 - anything the user's file does at import time
        results.append(CheckResult("evaluator", False, f"evaluate.py does not import: {_one_line(exc)}{_where(exc)}"))
        return results
    missing = [f"{f}()" for f in ("public", "score", "run") if not callable(getattr(evaluator, f, None))]
    if missing:
        results.append(CheckResult("evaluator", False, f"evaluate.py defines no {', '.join(missing)}: a problem has a "
                                   "trusted side (public, score) and a candidate side (run); see docs/problem-contract.md"))
        return results
    if not isinstance(getattr(evaluator, "InvalidSolution", None), type):
        results.append(CheckResult("evaluator", False, "evaluate.py defines no `class InvalidSolution(Exception)`; "
                                   "define it and raise it for invalid candidate outputs"))
    else:
        results.append(CheckResult("evaluator", True, "evaluate.py imports and defines public(), score(), run() and InvalidSolution"))

    try:
        seed_mod = types.ModuleType("_discover_check_seed")
        exec(compile(problem.seed_code, "<candidate>", "exec"), seed_mod.__dict__)
        if not callable(getattr(seed_mod, spec.entry.name, None)):
            raise AttributeError(f"seed.py defines no callable `{spec.entry.name}`")
    except BaseException as exc:  # noqa: BLE001
        results.append(CheckResult("seed", False, f"seed.py does not import: {_one_line(exc)}{_where(exc)}"))
        return results
    results.append(CheckResult("seed", True, f"seed.py imports and defines `{spec.entry.name}`"))

    first_train: tuple[str, dict] | None = None
    sets = list(dict.fromkeys(spec.splits.train + spec.splits.test))
    for s in sets:
        t0 = time.perf_counter()
        try:
            out = evaluate_fn(problem, problem.seed_code, s)
        except BaseException as exc:  # noqa: BLE001
            if isinstance(exc, KeyboardInterrupt):
                raise
            kind = "the seed is invalid" if type(exc).__name__ == "InvalidSolution" else "evaluating the seed failed"
            results.append(CheckResult(f"set:{s}", False, f"{kind} on instance set {s!r}: {_one_line(exc)}{_where(exc)}"))
            continue
        took = time.perf_counter() - t0
        bad = _validate_result(out)
        if bad:
            results.append(CheckResult(f"set:{s}", False, f"instance set {s!r}: {bad}"))
            continue
        if took > spec.limits.timeout_s:
            results.append(CheckResult(f"set:{s}", False, f"instance set {s!r}: the seed took {took:.1f} s, over "
                                       f"limits.timeout_s = {spec.limits.timeout_s:g}; raise the limit or shrink the set"))
            continue
        results.append(CheckResult(f"set:{s}", True, f"seed scores {_set_score(out):.6g} on {s!r} "
                                   f"({len(out['instances'])} instances, {took:.2f} s)"))
        if first_train is None and s in spec.splits.train:
            first_train = (s, out)

    if first_train is not None:
        s, out = first_train
        try:
            again = evaluate_fn(problem, problem.seed_code, s)
            same = _validate_result(again) is None and _fingerprint(again) == _fingerprint(out)
        except BaseException as exc:  # noqa: BLE001
            if isinstance(exc, KeyboardInterrupt):
                raise
            results.append(CheckResult("deterministic", False, f"the second evaluation of the seed on {s!r} failed: {_one_line(exc)}"))
        else:
            if same:
                results.append(CheckResult("deterministic", True, f"two evaluations of the seed on {s!r} gave the same numbers"))
            else:
                a, b = _fingerprint(out), _fingerprint(again) if _validate_result(again) is None else {}
                diff = next((k for k in a if a.get(k) != b.get(k)), "instances")
                results.append(CheckResult("deterministic", False, f"two evaluations of the seed on {s!r} differ "
                                           f"({diff}: {a.get(diff)} vs {b.get(diff)}); seed every random generator "
                                           "in evaluate.py (and np.random before calling the candidate)"))
    else:
        results.append(CheckResult("deterministic", False, "not checked: the seed did not evaluate on any train set"))

    unknown = sorted({f"{name}.{s}" for name, by_set in spec.baselines.items() for s in by_set if s not in sets})
    if unknown:
        results.append(CheckResult("baselines", False, f"[baselines] name instance sets not in [splits]: {', '.join(unknown)}"))
    else:
        results.append(CheckResult("baselines", True, f"{len(spec.baselines)} baseline(s), all on known instance sets"))
    return results
