"""The Target seam: what a candidate is and how the loop describes, parses, fingerprints, screens, evaluates and
renders it. The loop (discover/engine/loop.py) knows nothing else about code or prompts.

Studied for the shape: GEPA's single adapter (evaluate a candidate on a batch -> scores + traces, then turn the
traces into a reflective dataset). Here the target also owns parsing and the first cheap stage (screening), and
the feedback text, because candidates of different kinds fail in different ways.

A target returns evaluations as `Stage`s: the rows to store (one per instance set, under the split), the flat
Outcome for selection and feedback, and for a screening stage an optional verdict ("screened out: ...")."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

from discover.feedback import Outcome, Reference


@dataclass
class Seed:
    content: str
    thought: str
    operator: str = "seed"


@dataclass
class Parsed:
    content: str
    thought: str = ""


@dataclass
class EvalRecord:
    """What Store.add_evaluation expects (the attributes of a sandbox EvalResult), for targets that score in-process."""

    status: str
    score: float | None
    instances: dict[str, dict]
    error: str | None = None
    traceback: str | None = None
    stdout_tail: str = ""
    stderr_tail: str = ""
    duration_s: float = 0.0


@dataclass
class Stage:
    rows: list[tuple[str, Any]]          # (instance set, EvalResult-like) to store under the stage's split
    outcome: Outcome
    verdict: str | None = None           # screening: why the candidate goes no further (None: it passes)
    fatal: str | None = None             # the target's trusted side failed (a user scorer): the run stops
    extra: dict[str, Any] = field(default_factory=dict)


class Target(Protocol):
    kind: str                            # registered in discover/targets/info.py for review
    direction: str                       # "minimize" | "maximize"
    name: str                            # runs.problem
    source: str                          # runs.problem_dir (a folder, or where the task data came from)
    fills_first_generation: bool         # generation 0 = the seed + (population - 1) proposals, or the seed alone
    propose_role: str                    # the gateway role of proposal calls ("propose", "optimizer")
    default_strategy: str                # when the config names none
    model: str                           # the proposing model
    temperature: float
    max_tokens: int
    train_sets: list[str]
    test_sets: list[str]

    def seed(self) -> Seed: ...

    def parse(self, text: str, prefix: str = "") -> Parsed:
        """LLM text -> content + thought; raises discover.extract.MalformedOutput with the reason."""

    def fingerprint(self, content: str) -> str: ...

    def render(self, content: str) -> str:
        """The view of a candidate shown to the LLM as a parent."""

    async def screen(self, content: str, *, best: Outcome | None, deadline: float | None) -> Stage | None:
        """A cheap first stage; None when the target has none. Its rows are stored under split "train"."""

    async def evaluate(self, content: str, *, split: str, sets: list[str] | None = None, prior: Stage | None = None,
                       deadline: float | None = None) -> Stage:
        """Score on `sets` of `split` (default: all of them). `prior`: the screening stage, whose work may be reused."""

    def outcome_from_rows(self, rows: list[Any]) -> Outcome:
        """The train Outcome from stored evaluation rows (a resumed run)."""

    def feedback(self, thought: str, outcome: Outcome, parent: Reference | None, best: Reference | None) -> str: ...

    def better(self, a: float | None, b: float | None) -> bool: ...

    def sort_key(self, score: float | None) -> float: ...

    def test_reserve_calls(self, top_k: int) -> int:
        """LLM calls to keep for held-out scoring (a prompt target's test split costs task-model calls)."""

    def header(self) -> dict[str, Any]: ...

    def close(self) -> None: ...


class DirectionMixin:
    direction: str

    @property
    def minimize(self) -> bool:
        return self.direction == "minimize"

    def better(self, a: float | None, b: float | None) -> bool:
        """True if score a is strictly better than b (None is worst)."""
        if a is None:
            return False
        if b is None:
            return True
        return a < b if self.minimize else a > b

    def sort_key(self, score: float | None) -> float:
        if score is None:
            return float("inf")
        return score if self.minimize else -score
