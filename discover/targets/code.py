"""The code target: a problem folder (problem.toml + evaluate.py + seed.py + data/) and an Evaluator. A candidate
is the source of the problem's entry function; the LLM's answer is a thought plus a ```python block (or, prefilled,
the body of the function)."""

from __future__ import annotations

import contextlib
from typing import Any, Iterator

from discover.evaluation import outcome_from, outcome_from_rows
from discover.extract import code_hash, drop_docstring, parse_response
from discover.feedback import Outcome, Reference, candidate_feedback
from discover.problem import Problem
from discover.targets.base import DirectionMixin, Parsed, Seed, Stage

# A prefilled answer is the body of the entry function, so the first unindented line ends it: the closing fence, or
# the demo/test code small models append ("# Test the function", "def test_...", "print(...)").
PREFILL_STOPS = ["\n```", "\n#", "\ndef ", "\nclass ", "\nif ", "\nprint(", "\nimport ", "\nfrom ", "\nfor ",
                 "\nwhile ", "\ntry:", "\nassert "]


@contextlib.contextmanager
def open_code_evaluator(problem: Problem, config: Any) -> Iterator[Any]:
    """The one place a code run gets its Evaluator. `discover.evaluation.open_evaluator(problem, config)` (the
    trusted-scoring implementation, executor chosen by config.executor) when it exists, else today's facade over a
    local sandbox pool."""
    from discover import evaluation

    opener = getattr(evaluation, "open_evaluator", None)
    if opener is not None:
        ev = opener(problem, config)
        if hasattr(ev, "__enter__"):
            with ev as opened:
                yield opened
            return
        try:
            yield ev
        finally:
            ev.close()
        return
    from discover.sandbox import open_sandbox

    with open_sandbox(config.sandbox, workers=config.workers) as sandbox:
        yield evaluation.Evaluator(problem, sandbox)


class CodeTarget(DirectionMixin):
    kind = "code"
    fills_first_generation = True
    propose_role = "propose"
    default_strategy = "eoh"

    def __init__(self, problem: Problem, evaluator: Any, config: Any) -> None:
        self.problem = problem
        self.evaluator = evaluator
        self.config = config
        self.direction = problem.spec.score.direction
        self.name = problem.name
        self.source = str(problem.root)
        self.model = config.model
        self.temperature = 0.8 if config.temperature is None else config.temperature
        self.max_tokens = config.max_tokens or 700
        self.train_sets = list(problem.spec.splits.train)
        self.test_sets = list(problem.spec.splits.test)

    @property
    def capacity(self) -> int:
        return max(1, int(getattr(self.evaluator, "capacity", 1)))

    def seed(self) -> Seed:
        return Seed(content=self.problem.seed_code, thought="the problem's seed heuristic", operator="seed")

    def seeds(self) -> list[Seed]:
        """seed.py, then the problem's documented priors in seeds/*.py."""
        return [self.seed()] + [Seed(content=code, thought=f"the problem's prior heuristic {name!r} (seeds/{name}.py)",
                                     operator="seed") for name, code in self.problem.extra_seeds]

    def parse(self, text: str, prefix: str = "") -> Parsed:
        entry = self.problem.spec.entry
        p = parse_response(text, entry.name, entry.signature, prefix=prefix)
        return Parsed(content=p.code, thought=p.thought)

    def stop_sequences(self, prefix: str) -> list[str] | None:
        # Stopping at the end of the body skips text that on a CPU model costs as much time as the function itself
        # (16 % of the generated tokens of two 30-call TSP runs) and would be dropped anyway.
        return PREFILL_STOPS if prefix else None

    def fingerprint(self, content: str) -> str:
        return code_hash(content)

    def render(self, content: str) -> str:
        entry = self.problem.spec.entry
        return drop_docstring(content, entry.name, entry.docstring) if entry.docstring else content

    async def screen(self, content: str, *, best: Outcome | None, deadline: float | None) -> Stage | None:
        return None  # room for a first-train-set stage; every train set is cheap enough today

    async def evaluate(self, content: str, *, split: str, sets: list[str] | None = None, prior: Stage | None = None,
                       deadline: float | None = None) -> Stage:
        sets = list(sets if sets is not None else (self.train_sets if split == "train" else self.test_sets))
        results = await self.evaluator.evaluate(content, sets, split=split, deadline=deadline)
        return Stage(rows=list(zip(sets, results)), outcome=outcome_from(sets, results))

    def outcome_from_rows(self, rows: list[Any]) -> Outcome:
        return outcome_from_rows(self.train_sets, rows)

    def feedback(self, thought: str, outcome: Outcome, parent: Reference | None, best: Reference | None) -> str:
        return candidate_feedback(self.problem, thought, outcome, parent, best)

    def test_reserve_calls(self, top_k: int) -> int:
        return 0

    def header(self) -> dict[str, Any]:
        described = self.evaluator.describe() if hasattr(self.evaluator, "describe") else {}
        out = {"problem": self.name, "target": self.kind, "sandbox": getattr(self.evaluator, "backend", None)}
        if described.get("executor") not in (None, "local"):
            out["executor"] = described["executor"]
        if described.get("isolation_note"):
            out["isolation_note"] = described["isolation_note"]  # what this backend does not isolate
        return out

    def close(self) -> None:
        pass
