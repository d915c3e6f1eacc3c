"""The node side of the Ray executor: what runs inside a Ray worker process on whichever node Ray picked.

Nothing here imports ray at module level: the classes are plain and `discover/executors/ray.py` wraps them with
`ray.remote(...)` and the job's resources. The evaluation itself goes through the same `discover.sandbox` as on
one machine (bwrap / docker / process, as configured), so a cluster node isolates exactly as the local pool does.
"""

from __future__ import annotations

import os
import socket
import threading
import time
from typing import Any

from discover.executors.base import CandidateRun, RawRun


def node_report() -> dict[str, Any]:
    """This node as the doctor and the run header show it: which sandbox backends work here, and why not."""
    import discover
    from discover.sandbox import available_backends, isolation_note

    backends = available_backends()
    info: dict[str, Any] = {"host": socket.gethostname(), "pid": os.getpid(), "discover": discover.__version__,
                            "backends": backends,
                            "notes": {b: isolation_note(b) for b, why in backends.items() if why is None}}
    try:
        import ray

        ctx = ray.get_runtime_context()
        info["node_id"] = ctx.get_node_id()
        info["gpu_ids"] = [str(g) for g in ray.get_gpu_ids()]
    except Exception:  # noqa: BLE001 - outside a Ray worker (unit use): the report is still useful
        info["node_id"] = None
    return info


def _open(backend: str, gpus: Any):
    from discover.sandbox import open_sandbox

    box = open_sandbox(backend, workers=1, gpus=gpus)
    box.warm_up()  # the worker's start (0.1-1 s) is paid when the slot starts, not by the first candidate
    return box


class SandboxSlot:
    """One evaluation slot: a Ray actor holding one warm sandbox worker. It reserves the job's CPUs/GPUs/memory
    for its lifetime, so Ray places slots where those resources are; a GPU problem's slots land on GPU nodes.

    Calls carry a ticket; `cancel(ticket)` (run on a second actor thread, hence max_concurrency=2) kills the
    sandbox worker under a running ticket so the blocked `run` returns at once, or refuses a ticket not yet
    started. The next `run` opens a fresh worker."""

    def __init__(self, backend: str = "auto", gpus: Any = None) -> None:
        self.requested = backend
        self.gpus = gpus
        self._lock = threading.Lock()
        self._box = None
        self._error: str | None = None
        self._current: str | None = None
        self._refused: set[str] = set()
        self.report = node_report()
        try:
            self._box = _open(backend, gpus)
        except Exception as e:  # noqa: BLE001 - reported on every call (and in info) instead of killing the actor
            self._error = f"{type(e).__name__}: {e}"
        self.report["sandbox"] = self._box.backend if self._box else None
        self.report["sandbox_error"] = self._error

    def info(self) -> dict[str, Any]:
        return self.report

    def pid(self) -> int:
        return os.getpid()

    def run(self, job: CandidateRun, remaining_s: float | None, ticket: str) -> RawRun:
        with self._lock:
            if ticket in self._refused:
                self._refused.discard(ticket)
                return RawRun("cancelled", error="cancelled before it started")
            if self._box is None and self._error is None:
                try:
                    self._box = _open(self.requested, self.gpus)
                except Exception as e:  # noqa: BLE001
                    self._error = f"{type(e).__name__}: {e}"
            box, self._current = self._box, ticket
        if box is None:
            return RawRun("crash", error=f"no sandbox on node {self.report.get('host')}: {self._error}",
                          node=self.report.get("node_id"), extra={"infrastructure": True})
        deadline = None if remaining_s is None else time.monotonic() + remaining_s
        try:
            raw = box.run(job, deadline)
        finally:
            with self._lock:
                self._current = None
        raw.node = self.report.get("node_id")
        return raw

    def cancel(self, ticket: str) -> bool:
        """True if it stopped a running evaluation."""
        with self._lock:
            if self._current != ticket:
                self._refused.add(ticket)
                return False
            box, self._box = self._box, None
        if box is not None:
            box.close()
        return True

    def close(self) -> None:
        with self._lock:
            box, self._box = self._box, None
        if box is not None:
            box.close()


# -- task mode: one Ray task per evaluation, reusing a sandbox cached in the Ray worker process ------------------

_CACHED: dict[tuple, Any] = {}
_CACHED_LOCK = threading.Lock()


def run_task(job: CandidateRun, remaining_s: float | None, backend: str, gpus: Any) -> RawRun:
    """A Ray task body. Ray reuses worker processes between tasks of a job, so the sandbox opened by the first
    task in a process serves the next ones warm. A force-cancel kills the process and its sandbox with it."""
    key = (backend, gpus)
    with _CACHED_LOCK:
        box = _CACHED.get(key)
        if box is None:
            try:
                box = _CACHED[key] = _open(backend, gpus)
            except Exception as e:  # noqa: BLE001
                return RawRun("crash", error=f"no sandbox on node {socket.gethostname()}: {type(e).__name__}: {e}",
                              extra={"infrastructure": True})
    deadline = None if remaining_s is None else time.monotonic() + remaining_s
    raw = box.run(job, deadline)
    try:
        import ray

        raw.node = ray.get_runtime_context().get_node_id()
    except Exception:  # noqa: BLE001, S110 - outside Ray (unit use): no node to name
        pass
    return raw
