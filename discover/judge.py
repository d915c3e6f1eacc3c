"""The trusted side of evaluation: a separate process that alone imports the problem's scorer and reads its data.

It never runs candidate code. It makes the public payload of an instance set (what the sandbox may see) and scores
what came back: the candidate side's bytes are decoded as plain data only (discover.wire), matched against the
instances that were sent, and handed to the problem's score(). The candidate cannot reach this process: it is not
the candidate's parent, shares no descriptor with it, and runs outside the sandbox on the machine of the loop.

A failure here is the problem's fault, not a candidate's: it raises ProblemError naming the problem's file.
"""

from __future__ import annotations

import math
import pickle
import queue
import re
import struct
import subprocess
import sys
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from discover.errors import ProblemError

MAX_OUTPUT_BYTES = 512 << 20

# -- in the judge process -------------------------------------------------------------------------------------

_module: Any = None
_root: Path | None = None


def _init(root: str) -> None:
    global _module, _root
    from discover.contract import load_trusted

    _root = Path(root)
    try:
        _module = load_trusted(_root)
    except ProblemError as exc:
        _module = exc  # reported on first use, with its message


def _mod():
    if isinstance(_module, ProblemError):
        raise _module
    return _module


def _where(exc: BaseException) -> str:
    import traceback

    for fr in reversed(traceback.extract_tb(exc.__traceback__)):
        if fr.filename.endswith("evaluate.py"):
            return f" (evaluate.py line {fr.lineno})"
    return ""


def _public(instance_set: str, ids: list[str] | None) -> tuple[bytes, list[str]]:
    from discover import wire

    mod = _mod()
    try:
        data = mod.public(instance_set, str(_root / "data"))
        if not isinstance(data, dict) or not data:
            raise TypeError(f"public() must return a non-empty dict of instances, got {type(data).__name__}")
        if ids is not None:
            missing = [i for i in ids if i not in data]
            if missing:
                raise KeyError(f"no instance {missing[0]!r} in set {instance_set!r}")
            data = {i: data[i] for i in ids}
        return wire.encode(data), [str(k) for k in data]
    except Exception as exc:  # noqa: BLE001 - the problem's own code
        raise ProblemError(f"{_root / 'evaluate.py'}: public({instance_set!r}) failed: {type(exc).__name__}: "
                           f"{exc}{_where(exc)}", path=str(_root)) from None


def _hidden(instance_set: str) -> list | None:
    mod = _mod()
    if not callable(getattr(mod, "hidden", None)):
        return None
    try:
        return [h for h in mod.hidden(instance_set, str(_root / "data")) if isinstance(h, (str, int, float))]
    except Exception as exc:  # noqa: BLE001
        raise ProblemError(f"{_root / 'evaluate.py'}: hidden({instance_set!r}) failed: {exc}", path=str(_root)) from None


def _numbers(metrics: dict) -> list:
    out = []
    for m in metrics.values():
        if isinstance(m, dict):
            out += [v for k, v in m.items() if k != "score" and isinstance(v, (int, float)) and not isinstance(v, bool)]
    return out


def _score(instance_set: str, blob: bytes, expected: list[str]) -> dict:
    from discover import wire
    from discover.contract import result_shape_error

    mod = _mod()
    try:
        outputs = wire.decode(blob, max_bytes=MAX_OUTPUT_BYTES)
    except wire.WireError as exc:
        return {"status": "invalid", "error": f"the candidate side returned malformed data ({exc})"}
    if not isinstance(outputs, dict) or sorted(outputs) != sorted(expected):
        got = sorted(outputs) if isinstance(outputs, dict) else type(outputs).__name__
        return {"status": "invalid", "error": f"the outputs do not match the instances that were sent "
                                              f"(expected {len(expected)}, got {str(got)[:120]})"}
    try:
        result = mod.score(instance_set, str(_root / "data"), outputs)
    except Exception as exc:  # noqa: BLE001
        if "InvalidSolution" in {c.__name__ for c in type(exc).__mro__}:
            return {"status": "invalid", "error": f"{type(exc).__name__}: {exc}"[:600]}
        raise ProblemError(f"{_root / 'evaluate.py'}: score({instance_set!r}) failed: {type(exc).__name__}: "
                           f"{exc}{_where(exc)}", path=str(_root)) from None
    bad = result_shape_error(result)
    if bad:
        raise ProblemError(f"{_root / 'evaluate.py'}: {bad}", path=str(_root))
    raw = {str(k): v for k, v in result["instances"].items()}
    nonfinite = [k for k, v in raw.items() if not math.isfinite(float(v["score"]))]
    instances = {k: {mk: _plain(mv) for mk, mv in v.items()} for k, v in raw.items()}
    for k in nonfinite:
        instances[k]["score"] = float(raw[k]["score"])  # kept as is: the host calls it suspicious
    score = result.get("score")
    if score is None:
        vals = [float(m["score"]) for m in instances.values()]
        score = sum(vals) / len(vals) if vals else None
    hidden = _hidden(instance_set)
    if hidden is None:
        hidden = _numbers(instances)
    return {"status": "ok", "score": None if score is None else float(score), "instances": instances,
            "hidden": [h for h in hidden if isinstance(h, (str, int, float))][:100_000]}


def _plain(v: Any) -> Any:
    """Metrics as JSON-safe values for the store."""
    if isinstance(v, (str, bool)) or v is None:
        return v
    if isinstance(v, int):
        return v
    if isinstance(v, float):
        return v if math.isfinite(v) else None
    try:
        import numpy as np

        if isinstance(v, np.generic):
            return _plain(v.item())
        if isinstance(v, np.ndarray):
            return v.tolist() if v.size <= 64 else f"<array {v.shape}>"
    except ImportError:
        pass
    if isinstance(v, (list, tuple)):
        return [_plain(x) for x in v][:64]
    if isinstance(v, dict):
        return {str(k): _plain(x) for k, x in list(v.items())[:64]}
    return str(v)[:200]


# -- host side ------------------------------------------------------------------------------------------------

@dataclass
class Verdict:
    status: str                       # ok | invalid
    score: float | None = None
    instances: dict[str, dict] = field(default_factory=dict)
    error: str | None = None
    hidden: list = field(default_factory=list)


class _JudgeProcess:
    """One scorer process (`python -I -m discover.judge ROOT`), spoken to with length-prefixed pickle frames.
    Pickle is fine here: both ends are trusted code; candidate bytes travel inside as opaque `bytes`."""

    def __init__(self, root: Path) -> None:
        self.proc = subprocess.Popen([sys.executable, "-I", "-m", "discover.judge", str(root)], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, close_fds=True)

    def call(self, name: str, *args: Any) -> Any:
        data = pickle.dumps((name, args))
        assert self.proc.stdin is not None and self.proc.stdout is not None
        try:
            self.proc.stdin.write(struct.pack("<Q", len(data)) + data)
            self.proc.stdin.flush()
            head = self.proc.stdout.read(8)
            if len(head) < 8:
                raise EOFError
            (n,) = struct.unpack("<Q", head)
            ok, value = pickle.loads(self.proc.stdout.read(n))
        except (EOFError, OSError, pickle.UnpicklingError, struct.error):
            err = b""
            try:
                self.proc.kill()
                err = self.proc.stderr.read() if self.proc.stderr else b""
            except OSError:
                pass
            last = err.decode(errors="replace").strip().splitlines()[-1:] or ["no message"]
            raise _Died(last[0][:300]) from None
        if ok:
            return value
        raise ProblemError(value)

    def close(self) -> None:
        try:
            self.proc.kill()
            self.proc.wait(5)
        except (OSError, subprocess.TimeoutExpired):
            pass


class _Died(Exception):
    pass


def _serve(root: str) -> None:
    """The scorer process's loop (stdin/stdout frames)."""
    rin, wout = sys.stdin.buffer, sys.stdout.buffer
    sys.stdout = sys.stderr  # a print() in the problem's code must not corrupt the channel
    _init(root)
    fns = {"public": _public, "score": _score, "hidden": _hidden}
    while True:
        head = rin.read(8)
        if len(head) < 8:
            return
        (n,) = struct.unpack("<Q", head)
        name, args = pickle.loads(rin.read(n))
        try:
            out = (True, fns[name](*args))
        except ProblemError as exc:
            out = (False, exc.message)
        except Exception as exc:  # noqa: BLE001
            out = (False, f"{_root / 'evaluate.py'}: {name}() failed: {type(exc).__name__}: {exc}")
        data = pickle.dumps(out)
        wout.write(struct.pack("<Q", len(data)) + data)
        wout.flush()


class Judge:
    """A small pool of trusted scorer processes for one problem (fresh interpreters: nothing of discover's
    process state, no LLM, no sandbox in them)."""

    def __init__(self, root: Path, workers: int = 1) -> None:
        self.root = Path(root)
        self._idle: queue.Queue = queue.Queue()
        self._all: list[_JudgeProcess] = []
        for _ in range(max(1, workers)):
            self._spawn()
        self._payloads: dict[tuple, tuple[bytes, list[str]]] = {}
        self._lock = threading.Lock()

    def _spawn(self) -> None:
        p = _JudgeProcess(self.root)
        self._all.append(p)
        self._idle.put(p)

    def _call(self, name: str, *args: Any) -> Any:
        p = self._idle.get()
        try:
            return p.call(name, *args)
        except _Died as exc:
            self._all.remove(p)
            self._spawn()  # the next call gets a fresh one
            raise ProblemError(f"{self.root / 'evaluate.py'}: the trusted scorer process died ({exc}); a crash in "
                               f"the problem's own code or its libraries", path=str(self.root)) from None
        finally:
            if p in self._all:
                self._idle.put(p)

    def payload(self, instance_set: str, ids: list[str] | None = None) -> tuple[bytes, list[str]]:
        """(wire bytes of the public instances, their ids), cached per set."""
        key = (instance_set, tuple(ids) if ids is not None else None)
        with self._lock:
            hit = self._payloads.get(key)
        if hit is None:
            hit = self._call("public", instance_set, ids)
            with self._lock:
                self._payloads[key] = hit
        return hit

    def hidden(self, instance_set: str) -> list | None:
        """The problem's hidden() values for a set, or None when it defines none."""
        return self._call("hidden", instance_set)

    def score(self, instance_set: str, blob: bytes, expected: list[str]) -> Verdict:
        return Verdict(**self._call("score", instance_set, blob, expected))

    def close(self) -> None:
        for p in self._all:
            p.close()
        self._all = []


# -- scrubbing candidate-side text ----------------------------------------------------------------------------

_NUMBER = re.compile(r"[-+]?(?:\d+\.\d*|\.\d+|\d+)(?:[eE][-+]?\d+)?")


def scrub(text: str | None, hidden: list, limit: int = 4000, keep: str = "head") -> str | None:
    """Candidate-side text (exception messages, stdout, stderr) without anything the judge knows is hidden, and
    trimmed. A number matches a hidden number when it has at least 3 significant digits and agrees to 1e-3
    relative (so a rounded optimum is caught too); strings match as substrings."""
    if text is None:
        return None
    nums = sorted({float(h) for h in hidden if isinstance(h, (int, float)) and not isinstance(h, bool)
                   and math.isfinite(h) and abs(h) >= 1e-12})
    strs = [h for h in hidden if isinstance(h, str) and len(h) >= 4]
    for s in strs:
        text = text.replace(s, "[hidden]")
    if nums:
        import bisect

        def repl(m: re.Match) -> str:
            tok = m.group(0)
            digits = len(re.sub(r"[^0-9]", "", tok.split("e")[0].split("E")[0]).lstrip("0"))
            if digits < 3:
                return tok
            try:
                v = float(tok)
            except ValueError:
                return tok
            i = bisect.bisect_left(nums, v - abs(v) * 1e-3)
            while i < len(nums) and nums[i] <= v + abs(v) * 1e-3:
                if abs(nums[i] - v) <= abs(v) * 1e-3:
                    return "[hidden]"
                i += 1
            return tok

        text = _NUMBER.sub(repl, text)
    if len(text) <= limit:
        return text
    return text[: limit - 20] + "\n[... trimmed ...]" if keep == "head" else "[... trimmed ...]\n" + text[-(limit - 20):]


if __name__ == "__main__":
    _serve(sys.argv[1])
