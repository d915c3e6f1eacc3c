"""Run untrusted candidate code: one in-sandbox runner (sandbox/runner.py), several isolation backends.

    with open_sandbox(backend="auto", workers=2) as sb:
        sb.backend                 # "bwrap", "docker" or "process"
        sb.evaluate(req)           # -> EvalResult; never raises for anything the candidate does
        sb.evaluate_many(reqs)     # parallel, up to `workers`

`auto` picks the strongest backend that works here: bwrap (namespaces, no network, read-only root, ~ms per
evaluation), then docker (as strong, needs a daemon, slower to start a worker), then process (no isolation;
warns). bwrap comes first because it is as isolating for our purpose, needs no daemon, and starts in ms.
"""

from __future__ import annotations

import os
import queue
import warnings
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Iterable

from discover.errors import SandboxError
from discover.sandbox.models import EvalRequest, EvalResult

__all__ = ["EvalRequest", "EvalResult", "Sandbox", "open_sandbox", "available_backends", "BACKENDS"]

BACKENDS = ("bwrap", "docker", "process")


def _reason(name: str) -> str | None:
    if name == "process":
        return None
    if name == "bwrap":
        from discover.sandbox.bwrap import bwrap_unavailable

        return bwrap_unavailable()
    if name == "docker":
        from discover.sandbox.docker import docker_unavailable

        return docker_unavailable()
    return f"unknown sandbox backend {name!r} (known: {', '.join(BACKENDS)})"


def available_backends() -> dict[str, str | None]:
    """name -> None if usable here, else the one-line reason why not."""
    return {name: _reason(name) for name in BACKENDS}


class Sandbox:
    def __init__(self, backend: str, workers: int, gpus: Any = None) -> None:
        self.backend = backend
        self.workers = workers
        self.gpus = gpus
        self._all = [self._make_worker(i) for i in range(workers)]
        self._idle: queue.Queue = queue.Queue()
        for w in self._all:
            self._idle.put(w)
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="sandbox")
        self._closed = False

    def _make_worker(self, i: int):
        if self.backend == "bwrap":
            from discover.sandbox.bwrap import BwrapWorker

            return BwrapWorker(i, self.gpus)
        if self.backend == "docker":
            from discover.sandbox.docker import DockerWorker

            return DockerWorker(i, self.gpus)
        from discover.sandbox.process import CgroupProcessWorker

        return CgroupProcessWorker(i, self.gpus)

    def evaluate(self, req: EvalRequest) -> EvalResult:
        if self._closed:
            raise SandboxError("the sandbox is closed")
        w = self._idle.get()
        try:
            return w.evaluate(req)
        except Exception as e:  # noqa: BLE001 - never raise because of the candidate
            w.stop()
            return EvalResult.failure("crash", f"sandbox worker failed: {type(e).__name__}: {e}")
        finally:
            self._idle.put(w)

    def evaluate_many(self, reqs: Iterable[EvalRequest]) -> list[EvalResult]:
        return list(self._pool.map(self.evaluate, list(reqs)))

    def warm_up(self, problem_dir) -> None:
        """Start every worker now (for benchmarks); normally workers start on their first request."""
        from pathlib import Path

        def start(w):
            w.problem_dirs.add(Path(problem_dir).resolve())
            w.start()

        list(self._pool.map(start, self._all))

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._pool.shutdown(wait=True)
        for w in self._all:
            w.stop()

    def __enter__(self) -> "Sandbox":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def open_sandbox(backend: str = "auto", workers: int | None = None, gpus: Any = None) -> Sandbox:
    """Open a pool of `workers` warm sandbox workers (default: the number of cores)."""
    workers = max(1, int(workers or os.cpu_count() or 1))
    if backend in (None, "auto"):
        reasons = available_backends()
        order = ["docker", "bwrap", "process"] if gpus and reasons.get("docker") is None else list(BACKENDS)
        backend = next(b for b in order if reasons[b] is None)
    elif backend not in BACKENDS:
        raise SandboxError(f"unknown sandbox backend {backend!r} (known: {', '.join(BACKENDS)})")
    else:
        why = _reason(backend)
        if why:
            raise SandboxError(f"sandbox backend {backend!r} is not usable here: {why}")
    if backend == "docker" and gpus:
        from discover.sandbox.docker import check_gpus

        check_gpus(gpus)
    if backend == "process":
        msg = "the 'process' sandbox does NOT isolate candidates (rlimits and a process group only)"
        warnings.warn(msg, RuntimeWarning, stacklevel=2)
    return Sandbox(backend, workers, gpus)
