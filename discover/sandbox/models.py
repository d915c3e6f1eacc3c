"""The result of one evaluation as the loop and the store see it (after the judge scored the candidate side)."""

from __future__ import annotations

from typing import Literal

import pydantic

# ok: scored. invalid: an output broke the problem's rules. suspicious: a score the problem declares impossible
# (better than its optimum or bound, or not finite): kept, never ranked. cancelled: stopped by the run's wall clock
# (evaluated again on resume). The rest are failures of the candidate side.
Status = Literal["ok", "invalid", "error", "timeout", "memory", "crash", "forbidden", "output_limit", "suspicious",
                 "cancelled"]


class EvalResult(pydantic.BaseModel):
    status: Status
    score: float | None = None
    instances: dict[str, dict] = {}
    error: str | None = None
    traceback: str | None = None
    stdout_tail: str = ""
    stderr_tail: str = ""
    duration_s: float = 0.0

    @classmethod
    def failure(cls, status: Status, error: str, duration_s: float = 0.0) -> "EvalResult":
        return cls(status=status, error=error, duration_s=duration_s)
