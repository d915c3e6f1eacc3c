"""What a run counts while it runs (RunStats) and what it returns (RunSummary): one pair for every target."""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from discover.store import CandidateRow


@dataclass
class RunStats:
    generation: int = 0
    best_score: float | None = None
    best_id: str | None = None
    seed_score: float | None = None
    proposals: int = 0            # proposals answered (or produced without an LLM) in this run, all sessions
    valid: int = 0
    invalid: int = 0              # evaluated and failed (error, timeout, invalid, ...)
    screened_out: int = 0         # stopped after the screening stage
    rejected: int = 0             # the answer could not be used
    duplicates: int = 0
    duplicate_retries: int = 0    # re-asks after an answer that repeated earlier content
    repairs: int = 0
    tune_evaluations: int = 0     # evaluations spent by numeric tuning (no LLM)
    llm_calls: int = 0            # paid calls (every role)
    cached_calls: int = 0
    llm_errors: int = 0
    calls_by_role: Counter = field(default_factory=Counter)  # paid calls this session by role
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float = 0.0
    in_flight: int = 0            # proposals waiting for their LLM answer now
    evaluating: int = 0           # evaluations running now
    phase: str = "starting"
    started: float = field(default_factory=time.monotonic)

    @property
    def elapsed_s(self) -> float:
        return time.monotonic() - self.started

    # names the prompt job's table used
    @property
    def step(self) -> int:
        return self.generation

    @property
    def start_score(self) -> float | None:
        return self.seed_score

    @property
    def promoted(self) -> int:
        return self.valid

    @property
    def task_calls(self) -> int:
        return self.calls_by_role["task"]

    @property
    def optimizer_calls(self) -> int:
        return self.calls_by_role["optimizer"]


@dataclass
class RunSummary:
    run_id: str
    status: str                   # finished | stopped
    stop_reason: str
    kind: str
    problem: str
    best: CandidateRow | None
    seed: CandidateRow | None
    test_scores: dict[str, dict[str, float | None]]  # candidate id -> instance set -> held-out score
    stats: RunStats
    header: dict[str, Any] = field(default_factory=dict)

    @property
    def seed_id(self) -> str | None:
        return self.seed.id if self.seed else None
