"""The Executor seam: where the candidate side of an evaluation runs (a local sandbox pool, a Ray cluster).

An executor only ever runs the *candidate side*: the candidate's code, the problem's candidate-side files and the
public part of one instance set. It never sees hidden data (optima, reference answers), and what it returns is
untrusted bytes that the trusted judge (discover/judge.py, on the machine that runs the loop) decodes, checks and
scores. So a `CandidateRun` is self-contained and can be shipped to another machine as it is.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any, Protocol

# Statuses the candidate side can end with (the judge adds "invalid" and "suspicious" after scoring).
RAW_STATUSES = ("ok", "invalid", "error", "timeout", "memory", "crash", "forbidden", "output_limit", "cancelled")


@dataclass(frozen=True)
class CandidateRun:
    """One candidate on one instance set, candidate side only."""

    code: str                          # the candidate module's source
    files: dict[str, str]              # the problem's candidate-side modules: file name -> source (evaluate.py, ...)
    instance_set: str
    payload: bytes                     # wire-encoded {instance id: public data} (discover.wire)
    timeout_s: float = 60.0
    memory_mb: int = 1024
    scratch_mb: int = 256
    gpus: int = 0
    cpus: float = 1.0
    key: str = ""                      # idempotency key: (candidate, split, set); the same key is recorded once

    @property
    def files_digest(self) -> str:
        h = hashlib.sha256()
        for name in sorted(self.files):
            h.update(name.encode() + b"\0" + self.files[name].encode() + b"\0")
        return h.hexdigest()[:16]


@dataclass
class RawRun:
    """What came back from the candidate side. `output` is untrusted: only the judge decodes it."""

    status: str
    output: bytes | None = None
    error: str | None = None
    traceback: str | None = None
    stdout_tail: str = ""
    stderr_tail: str = ""
    duration_s: float = 0.0
    node: str | None = None            # where it ran (cluster executors)
    extra: dict[str, Any] = field(default_factory=dict)


class Executor(Protocol):
    name: str

    @property
    def capacity(self) -> int:
        """How many candidate runs it can do at once (the loop keeps about this many in flight)."""

    async def run(self, job: CandidateRun, deadline: float | None = None) -> RawRun:
        """Run the candidate side. Never raises for anything the candidate does; at `deadline` (time.monotonic())
        the run is cancelled and comes back with status "cancelled"."""

    def describe(self) -> dict[str, Any]:
        """For the run header and `discover doctor`: backend, workers/nodes, what it isolates and what it does not."""

    def close(self) -> None: ...
