"""Scorers: turn (model output, target) pairs into per-example scores in [0, 1] (user scorers may return any float).

  exact     normalised exact match (lowercase, whitespace collapsed, surrounding quotes/punctuation and a leading
            "answer:" stripped; the whole output or its first non-empty line may match)
  contains  the normalised target occurs in the normalised output
  regex:P   the last match of P in the output (its first group, if P has one), normalised, equals the target
  numeric   GSM8K-style: the last number in the output equals the target number
  choice    classification from free text, for any model: the answer is mapped to a label (an exact first line,
            else "answer is X", else the label mentioned last, else the most similar label by difflib).
  label     classification with an in-process model (local/...): the model answers with exactly one label,
            decoded under a grammar that allows only the labels, taking the most probable token at each step
            (Gateway.choose). Where labels differ in their first token that is the most probable label.
  FILE.py   the user's `score(output, target) -> float`, run in the sandbox (discover.sandbox). A scorer that raises
            on one example gives that example 0 with the error recorded; one that cannot even be imported gives an
            evaluation with status "error" and a one-line reason. Never a crash of the run.
"""

from __future__ import annotations

import asyncio
import difflib
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from discover.errors import ConfigError

_PUNCT = " \t\n\r.,!?;:'\"`*()[]{}"
_PREFIX = re.compile(r"^(?:the\s+)?(?:final\s+)?(?:answer|output|result)\s*(?:is|:)\s*", re.I)
_NUMBER = re.compile(r"-?\d[\d,]*(?:\.\d+)?|-?\.\d+")


@dataclass
class ScoreResult:
    score: float
    pred: str | None = None
    error: str | None = None


@dataclass
class BatchScore:
    status: str                      # ok | error (the scorer itself failed: user scorer import error, timeout, ...)
    results: list[ScoreResult]
    error: str | None = None
    traceback: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def normalise(text: str) -> str:
    t = " ".join(str(text).split()).strip(_PUNCT).lower()
    t = _PREFIX.sub("", t).strip(_PUNCT)
    return t


def first_line(text: str) -> str:
    for line in str(text).splitlines():
        if line.strip():
            return line
    return ""


def parse_number(text: str) -> float | None:
    m = _NUMBER.findall(str(text).replace("$", ""))
    if not m:
        return None
    try:
        return float(m[-1].replace(",", ""))
    except ValueError:
        return None


class Scorer:
    name = "base"
    in_sandbox = False

    def one(self, output: str, target: str) -> ScoreResult:  # pragma: no cover - overridden
        raise NotImplementedError

    async def score_batch(self, outputs: list[str], targets: list[str]) -> BatchScore:
        return BatchScore(status="ok", results=[self.one(o, t) for o, t in zip(outputs, targets)])


class ExactScorer(Scorer):
    name = "exact"

    def one(self, output: str, target: str) -> ScoreResult:
        want = normalise(target)
        full, line = normalise(output), normalise(first_line(output))
        hit = want in (full, line)
        return ScoreResult(float(hit), pred=full if full == want else line)


class ContainsScorer(Scorer):
    name = "contains"

    def one(self, output: str, target: str) -> ScoreResult:
        return ScoreResult(float(normalise(target) in normalise(output)), pred=normalise(first_line(output))[:80])


class RegexScorer(Scorer):
    def __init__(self, pattern: str) -> None:
        try:
            self.regex = re.compile(pattern, re.S)
        except re.error as exc:
            raise ConfigError(f"scorer regex {pattern!r} does not compile: {exc}") from None
        self.name = f"regex:{pattern}"

    def one(self, output: str, target: str) -> ScoreResult:
        matches = list(self.regex.finditer(output))
        if not matches:
            return ScoreResult(0.0, pred=None)
        m = matches[-1]
        got = m.group(1) if self.regex.groups else m.group(0)
        return ScoreResult(float(normalise(got or "") == normalise(target)), pred=got)


class _LabelledScorer(Scorer):
    """A classification scorer: a fixed set of labels, each once, in the order given."""

    def __init__(self, labels: list[str]) -> None:
        if not labels:
            raise ConfigError(f"the {self.name} scorer needs labels (the task's, or --labels a,b,c)")
        self.labels = list(dict.fromkeys(labels))


class LabelScorer(_LabelledScorer):
    """The engine asks the task model to choose among `labels` (Gateway.choose); the chosen label is the output."""

    name = "label"

    def one(self, output: str, target: str) -> ScoreResult:
        return ScoreResult(float(normalise(output) == normalise(target)), pred=output)


class NumericScorer(Scorer):
    name = "numeric"

    def one(self, output: str, target: str) -> ScoreResult:
        want = parse_number(target)
        got = parse_number(output)
        if want is None:
            return ScoreResult(0.0, pred=None, error=f"target {target!r} is not a number")
        ok = got is not None and math.isclose(got, want, rel_tol=1e-6, abs_tol=1e-6)
        return ScoreResult(float(ok), pred=None if got is None else f"{got:g}")


class ChoiceScorer(_LabelledScorer):
    name = "choice"

    def __init__(self, labels: list[str]) -> None:
        super().__init__(labels)
        self.norm = {normalise(x): x for x in self.labels}

    def closest(self, output: str) -> str:
        line = normalise(first_line(output))
        if line in self.norm:
            return self.norm[line]
        text = " ".join(str(output).split()).lower()
        m = re.findall(r"answer\s*(?:is|:)\s*([^\n.,;]+)", text)
        if m and normalise(m[-1]) in self.norm:
            return self.norm[normalise(m[-1])]
        last, pos = None, -1
        for n, label in self.norm.items():
            for hit in re.finditer(r"(?<![\w])" + re.escape(n) + r"(?![\w])", text):
                if hit.start() > pos:
                    last, pos = label, hit.start()
        if last is not None:
            return last
        return max(self.labels, key=lambda x: difflib.SequenceMatcher(None, normalise(x), line).ratio())

    def one(self, output: str, target: str) -> ScoreResult:
        pred = self.closest(output)
        return ScoreResult(float(normalise(pred) == normalise(target)), pred=pred)


# -- the user's Python scorer, run in the sandbox ---------------------------------------------------------------
# The candidate-side module the sandbox runs around the user's file: score(output, target) per pair. The user's
# file is the "candidate" here: it runs in the sandbox (it reads LLM outputs, which may be crafted), and what it
# returns crosses back as plain data.
_SCORER_SIDE = '''\
"""Generated by discover.prompting: runs a user's score(output, target) over a batch of pairs."""
import math


class InvalidSolution(Exception):
    pass


def run(candidate, data):
    score = getattr(candidate, "score", None)
    if not callable(score):
        raise InvalidSolution("the scorer file defines no function score(output, target)")
    out = []
    for output, target in data["pairs"]:
        try:
            value = float(score(output, target))
            if math.isnan(value):
                raise ValueError("score() returned NaN")
            out.append({"score": value})
        except Exception as exc:
            out.append({"score": 0.0, "error": (type(exc).__name__ + ": " + str(exc))[:300]})
    return out
'''


class UserScorer(Scorer):
    in_sandbox = True

    def __init__(self, path: Path | str, sandbox: Any = None, timeout_s: float = 60, memory_mb: int = 1024) -> None:
        self.path = Path(path)
        try:
            self.code = self.path.read_text()
        except OSError as exc:
            raise ConfigError(f"cannot read scorer {self.path}: {exc.strerror or exc}") from None
        self.name = f"file:{self.path}"
        self.sandbox = sandbox
        self.timeout_s, self.memory_mb = timeout_s, memory_mb

    def close(self) -> None:
        pass

    async def score_batch(self, outputs: list[str], targets: list[str]) -> BatchScore:
        if self.sandbox is None:
            raise ConfigError("a user scorer needs a sandbox (internal: UserScorer.sandbox is not set)")
        from discover import wire
        from discover.executors.base import CandidateRun

        job = CandidateRun(code=self.code, files={"evaluate.py": _SCORER_SIDE}, instance_set="scores",
                           payload=wire.encode({"batch": {"pairs": [[o, t] for o, t in zip(outputs, targets)]}}),
                           timeout_s=self.timeout_s, memory_mb=self.memory_mb)
        res = await asyncio.to_thread(self.sandbox.run, job, None)
        rows = None
        if res.status == "ok" and res.output is not None:
            try:
                rows = wire.decode(res.output).get("batch")
            except (wire.WireError, AttributeError):
                rows = None
        if not isinstance(rows, list) or len(rows) != len(outputs):
            why = res.error or ("its answer was malformed" if res.status == "ok" else "no detail")
            msg = f"user scorer {self.path.name} failed ({res.status}): {why}"
            return BatchScore(status="error", error=msg, traceback=res.traceback,
                              results=[ScoreResult(0.0, error=msg) for _ in outputs])
        results = []
        for r in rows:
            r = r if isinstance(r, dict) else {}
            value = r.get("score", 0.0)
            ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
            results.append(ScoreResult(float(value) if ok else 0.0, error=r.get("error") if ok else "score() returned no number"))
        return BatchScore(status="ok", results=results)


def make_scorer(spec: str | None, *, labels: list[str] | None = None, default: str = "exact", sandbox: Any = None,
                timeout_s: float = 60) -> Scorer:
    spec = spec or default
    if spec == "exact":
        return ExactScorer()
    if spec == "contains":
        return ContainsScorer()
    if spec == "numeric":
        return NumericScorer()
    if spec == "choice":
        return ChoiceScorer(labels or [])
    if spec == "label":
        return LabelScorer(labels or [])
    if spec.startswith("regex:"):
        return RegexScorer(spec[len("regex:"):])
    if spec.endswith(".py"):
        if not Path(spec).is_file():
            raise ConfigError(f"scorer file {spec} does not exist")
        return UserScorer(spec, sandbox=sandbox, timeout_s=timeout_s)
    raise ConfigError(f"unknown scorer {spec!r}: use exact, contains, numeric, choice, label, regex:PATTERN or a path to a .py file")
