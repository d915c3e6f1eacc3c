"""The problem contract (docs/problem-contract.md): loading a problem's trusted side, collecting its candidate-side
files, and an in-process reference run of both halves (for `problem check` and problem tests; never for scoring
LLM candidates, which always go through a sandbox and the judge)."""

from __future__ import annotations

import importlib.util
import itertools
import sys
import types
from pathlib import Path
from typing import Any

from discover import wire
from discover.errors import ProblemError

TRUSTED_FUNCTIONS = ("public", "score")
CANDIDATE_FUNCTIONS = ("run",)
_counter = itertools.count()


def import_file(path: Path, label: str = "evaluate") -> types.ModuleType:
    """Import a file as a fresh module (no sys.modules caching between calls)."""
    name = f"_discover_{label}_{next(_counter)}"
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot import {path}")
    mod = importlib.util.module_from_spec(spec)
    sys.modules[name] = mod  # dataclasses and pickling look modules up here
    try:
        if str(path.parent) not in sys.path:
            sys.path.insert(0, str(path.parent))
        spec.loader.exec_module(mod)
    finally:
        sys.modules.pop(name, None)
    return mod


def check_evaluator_source(root: Path) -> None:
    """Refuse, in one line, an evaluate.py that does not follow the contract (cheap: no import)."""
    path = root / "evaluate.py"
    text = path.read_text()
    missing = [f for f in TRUSTED_FUNCTIONS + CANDIDATE_FUNCTIONS if f"def {f}(" not in text]
    if missing and "def evaluate(" in text:
        raise ProblemError(f"{path}: uses the old evaluate(candidate, instance_set, data_dir) contract, where the "
                           f"candidate ran inside the scorer; split it into public(), run() and score() "
                           f"(docs/problem-contract.md)", path=str(path))
    if missing:
        raise ProblemError(f"{path}: defines no {', '.join(f + '()' for f in missing)} "
                           f"(docs/problem-contract.md)", path=str(path))


def load_trusted(root: Path) -> types.ModuleType:
    """Import evaluate.py for the trusted side. Failing here is the problem's fault, never a candidate's."""
    path = root / "evaluate.py"
    try:
        mod = import_file(path)
    except BaseException as exc:  # noqa: BLE001 - anything the problem's file does at import time
        raise ProblemError(f"{path} does not import: {type(exc).__name__}: {exc}", path=str(path)) from exc
    for f in TRUSTED_FUNCTIONS:
        if not callable(getattr(mod, f, None)):
            raise ProblemError(f"{path}: defines no {f}() (docs/problem-contract.md)", path=str(path))
    return mod


def candidate_files(root: Path, extra: list[str]) -> dict[str, str]:
    """The sources that travel into the sandbox: evaluate.py and the files problem.toml lists under [sandbox]."""
    out: dict[str, str] = {}
    for name in ["evaluate.py", *extra]:
        p = (root / name).resolve()
        if root.resolve() not in p.parents or p.suffix != ".py" or "data" in p.relative_to(root.resolve()).parts:
            raise ProblemError(f"{root / 'problem.toml'}: [sandbox] files must be .py files inside the problem folder "
                               f"and outside data/ (got {name!r})", path=str(root))
        try:
            out[str(p.relative_to(root.resolve()))] = p.read_text()
        except OSError as exc:
            raise ProblemError(f"{p}: cannot read ({exc.strerror})", path=str(p)) from exc
    return out


def result_shape_error(result: Any) -> str | None:
    """None if `result` is what score() must return, else what is wrong (shown naming the problem's file)."""
    if not isinstance(result, dict) or not isinstance(result.get("instances"), dict):
        return "score() must return a dict with an 'instances' dict ({instance_id: {'score': float, ...}})"
    for key, metrics in result["instances"].items():
        s = metrics.get("score") if isinstance(metrics, dict) else None
        if not isinstance(s, (int, float)) or isinstance(s, bool):
            return f"score(): instance {key!r} has no numeric 'score' (got {metrics!r:.80})"
    s = result.get("score")
    if s is not None and (not isinstance(s, (int, float)) or isinstance(s, bool)):
        return f"score(): the top-level 'score' is not a number (got {s!r:.80})"
    return None


def evaluate_in_process(root: Path, code: str, instance_set: str, extra_files: list[str] | None = None) -> dict:
    """Both halves in this process, through the wire format (so a non-plain output fails here as it would in the
    sandbox). Raises what the problem or candidate raises. For problem checks and tests only."""
    trusted = load_trusted(root)
    data_dir = str(root / "data")
    public = wire.decode(wire.encode(trusted.public(instance_set, data_dir)))
    side = import_file(root / "evaluate.py", "candidate_side")
    candidate = types.ModuleType(f"_discover_candidate_{next(_counter)}")
    exec(compile(code, "candidate.py", "exec"), candidate.__dict__)
    outputs = {iid: side.run(candidate, data) for iid, data in public.items()}
    return trusted.score(instance_set, data_dir, wire.decode(wire.encode(outputs)))
