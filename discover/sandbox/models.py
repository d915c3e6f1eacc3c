"""The sandbox's request and result types (see notes/CONTRACTS.md)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import pydantic

Status = Literal["ok", "invalid", "error", "timeout", "memory", "crash", "forbidden"]


@dataclass(frozen=True)
class EvalRequest:
    code: str
    problem_dir: Path
    instance_set: str
    timeout_s: float = 60.0
    memory_mb: int = 1024


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
