"""Run the candidate side of evaluations in isolation: one fork-server runner (sandbox/runner.py), several backends.

    with open_sandbox(backend="auto", workers=2) as sb:
        sb.backend                 # "bwrap", "docker" or "process"
        sb.run(job, deadline)      # CandidateRun -> RawRun; never raises for anything the candidate does

`auto` picks the strongest backend that works here: bwrap (namespaces, no network, read-only root, ~ms per
evaluation), then docker (as strong, needs a daemon, slower to start a worker), then process (weak; warns).
Scoring is not done here: the trusted judge (discover/judge.py) scores what comes back.
"""

from __future__ import annotations

import os
import queue
import shutil
import threading
import warnings
from pathlib import Path
from typing import Any, Callable

from discover.errors import SandboxError
from discover.executors.base import CandidateRun, RawRun
from discover.sandbox.models import EvalResult

__all__ = ["EvalResult", "Sandbox", "open_sandbox", "available_backends", "BACKENDS", "register_backend",
           "cleanup_leftovers"]


def _bwrap():
    from discover.sandbox.bwrap import BwrapWorker, bwrap_unavailable

    return BwrapWorker, bwrap_unavailable


def _docker():
    from discover.sandbox.docker import DockerWorker, docker_unavailable

    return DockerWorker, docker_unavailable


def _process():
    from discover.sandbox.process import ProcessWorker

    return ProcessWorker, lambda: None


# name -> loader returning (worker class, availability check); strongest first for `auto`
BACKENDS: dict[str, Callable[[], tuple[type, Callable[[], str | None]]]] = {
    "bwrap": _bwrap, "docker": _docker, "process": _process}


def register_backend(name: str, loader: Callable[[], tuple[type, Callable[[], str | None]]]) -> None:
    BACKENDS[name] = loader


def _reason(name: str) -> str | None:
    if name not in BACKENDS:
        return f"unknown sandbox backend {name!r} (known: {', '.join(BACKENDS)})"
    return BACKENDS[name]()[1]()


def available_backends() -> dict[str, str | None]:
    """name -> None if usable here, else the one-line reason why not."""
    return {name: _reason(name) for name in BACKENDS}


def isolation_note(backend: str) -> str:
    if backend == "process":
        from discover.sandbox.process import isolation_note as note

        return note()
    from discover.sandbox.cgroups import memory_cap_mode

    cap = "a memory cgroup" if (os.getuid() == 0 and memory_cap_mode() == "cgroup") else "the memory supervisor"
    return f"{backend}: no network, no host files, candidates under their own uid; tree memory cap by {cap}"


def doctor_rows() -> list[tuple[str, str, bool, str]]:
    """(component, backend, usable, detail) rows for `discover doctor`: each backend with why not or what it
    isolates, and which memory cap is in force."""
    from discover.sandbox.cgroups import memory_cap_mode

    rows = []
    for name, reason in available_backends().items():
        rows.append(("sandbox", name, reason is None, reason or isolation_note(name)))
    if os.getuid() == 0 and memory_cap_mode() == "cgroup":
        cap = "cgroup: a v1 memory + pids cgroup per worker; the cap holds for the candidate's whole process tree"
    else:
        cap = ("supervisor: the fork server sums the candidate tree's resident memory and memfd/shm files every "
               "50 ms and kills it over the cap (plus RLIMIT_AS per process); no cgroup can be made here")
    rows.append(("memory cap", memory_cap_mode() if os.getuid() == 0 else "supervisor", True, cap))
    return rows


def cleanup_leftovers() -> dict[str, int]:
    """What a discover killed with SIGKILL left behind: scratch/ipc dirs, cgroups, labelled containers."""
    from discover.sandbox.cgroups import remove_dead_cgroups
    from discover.sandbox.worker import leftover_tmp_dirs

    dirs = leftover_tmp_dirs()
    for d in dirs:
        shutil.rmtree(d, ignore_errors=True)
    out = {"dirs": len(dirs), "cgroups": remove_dead_cgroups() if os.getuid() == 0 else 0, "containers": 0}
    if os.environ.get("DOCKER_HOST") or Path("/var/run/docker.sock").exists():
        from discover.sandbox.docker import docker_unavailable, remove_leftover_containers

        if docker_unavailable() is None:
            out["containers"] = remove_leftover_containers()
    return out


class Sandbox:
    def __init__(self, backend: str, workers: int, gpus: Any = None, hide: list[Path] | None = None) -> None:
        self.backend = backend
        self.workers = workers
        self.gpus = gpus
        worker_cls = BACKENDS[backend]()[0]
        self._all = [worker_cls(i, gpus, hide) for i in range(workers)]
        self._idle: queue.Queue = queue.Queue()
        for w in self._all:
            self._idle.put(w)
        self._closed = False
        self._lock = threading.Lock()

    def run(self, job: CandidateRun, deadline: float | None = None) -> RawRun:
        if self._closed:
            return RawRun("cancelled", error="the sandbox is closed")
        w = self._idle.get()
        try:
            if self._closed:
                return RawRun("cancelled", error="the sandbox is closed")
            return w.run(job, deadline)
        except Exception as e:  # noqa: BLE001 - never raise because of the candidate
            w.stop()
            return RawRun("crash", error=f"sandbox worker failed: {type(e).__name__}: {e}")
        finally:
            self._idle.put(w)

    def warm_up(self) -> None:
        """Start every worker now (for benchmarks); normally workers start on their first request."""
        threads = [threading.Thread(target=w.start) for w in self._all]
        for t in threads:
            t.start()
        for t in threads:
            t.join()

    def close(self) -> None:
        """Kill every worker at once: an evaluation blocked on one returns (as a crash or cancel) right away."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
        for w in self._all:
            w.stop()

    def __enter__(self) -> "Sandbox":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def default_hidden_paths() -> list[Path]:
    """Folders a process-backend candidate must not see even when their files are world-readable."""
    from discover.problem import BUILTIN_PROBLEMS_DIR
    from discover.store.db import default_runs_dir

    out = [BUILTIN_PROBLEMS_DIR, default_runs_dir().resolve()]
    return [p for p in out if p.is_dir()]


def open_sandbox(backend: str = "auto", workers: int | None = None, gpus: Any = None,
                 hide: list[Path] | None = None) -> Sandbox:
    """Open a pool of `workers` warm sandbox workers (default: the number of cores)."""
    workers = max(1, int(workers or os.cpu_count() or 1))
    if backend in (None, "auto"):
        reasons = available_backends()
        order = ["docker", "bwrap", "process"] if gpus and reasons.get("docker") is None else list(BACKENDS)
        backend = next(b for b in order if reasons.get(b) is None)
    elif backend not in BACKENDS:
        raise SandboxError(f"unknown sandbox backend {backend!r} (known: {', '.join(BACKENDS)})")
    else:
        why = _reason(backend)
        if why:
            raise SandboxError(f"sandbox backend {backend!r} is not usable here: {why}")
    if backend == "docker" and gpus:
        from discover.sandbox.docker import check_gpus

        check_gpus(gpus)
    cleanup_leftovers()
    if backend == "process":
        from discover.sandbox.process import isolation_note as note

        warnings.warn(f"the 'process' sandbox is weak: {note()}", RuntimeWarning, stacklevel=2)
    return Sandbox(backend, workers, gpus, hide if hide is not None else default_hidden_paths())
