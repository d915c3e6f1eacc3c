"""Run the candidate side of evaluations on a Ray cluster (`executor = "ray"`).

The loop, the store and the trusted judge stay on the driver; only a `CandidateRun` (candidate code, the problem's
candidate-side sources, the public payload) travels. On the node it lands on, the evaluation runs in the same
`discover.sandbox` as on one machine. Two ways to place it (`mode`, measured in bench/ray_bench.py):

- "actors" (default): `workers` slot actors, each reserving one evaluation's CPUs/GPUs/memory and holding a warm
  sandbox worker (discover/executors/ray_worker.py). A slot whose node dies is restarted by Ray elsewhere
  (max_restarts=-1) and the lost evaluation is resubmitted here, on another slot.
- "tasks": one Ray task per evaluation (max_retries for lost nodes), reusing a sandbox cached in the Ray worker
  process; a hung task is `ray.cancel(force=True)`-ed.

Either way one `run()` call returns exactly one RawRun, however often its evaluation ran (see docs/ray.md).
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
import uuid
from typing import Any

from discover.errors import ConfigError
from discover.executors.base import CandidateRun, RawRun

MiB = 1 << 20
MARGIN_S = 30.0         # past the job's timeout: the sandbox answers by timeout + its own 10 s grace; then it is hung
START_TIMEOUT_S = 180.0  # how long a run waits for any slot to come up (Ray starting actors, a node joining)
MAX_ATTEMPTS = 3        # an evaluation whose worker or node died is run again elsewhere, at most this often in all
PROBE_TIMEOUT_S = 60.0


def import_ray():
    try:
        import ray
    except ImportError:
        raise ConfigError("the ray executor needs Ray: pip install 'discover[ray]' (ray>=2.60)") from None
    return ray


def connect(address: str | None) -> bool:
    """Connect this process to Ray (`auto`, `ray://host:10001`, `host:6379`; None or "local": start a local
    instance). True if this call connected, False if it already was."""
    ray = import_ray()
    if ray.is_initialized():
        return False
    addr = None if address in (None, "", "local") else address
    try:
        # log_to_driver off: worker logs would interleave with the run's progress display
        ray.init(address=addr, namespace="discover", log_to_driver=False, logging_level=logging.WARNING)
    except (ConnectionError, TimeoutError, RuntimeError, ValueError) as e:
        msg = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise ConfigError(f"cannot reach the Ray cluster at {address}: {msg}") from None
    return True


def _sandbox_choice(requested: str, backends: dict[str, str | None], gpus: Any) -> tuple[str | None, str]:
    """Which backend open_sandbox(requested) would pick on a node with these availabilities, and why not."""
    if requested not in (None, "auto"):
        why = backends.get(requested, f"unknown sandbox backend {requested!r}")
        return (None, why) if why else (requested, "")
    order = ["docker", "bwrap", "process"] if gpus and backends.get("docker") is None else list(backends)
    for b in order:
        if backends.get(b) is None:
            return b, ""
    return None, "no sandbox backend works"


def node_reports(timeout_s: float = PROBE_TIMEOUT_S, known: dict[str, dict] | None = None,
                 evaluating_only: bool = False) -> list[dict[str, Any]]:
    """Every node Ray knows, with its resources and (for alive ones) what a zero-CPU probe task found there:
    sandbox backends usable and discover's version. `known`: node id -> a report a slot there already gave (no
    probe needed); `evaluating_only`: probe no node without CPUs or GPUs (a --num-cpus=0 head)."""
    ray = import_ray()
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    from discover.executors.ray_worker import node_report

    probe = ray.remote(node_report)
    nodes = ray.nodes()
    known = known or {}
    refs = {}
    for n in nodes:
        res = n.get("Resources", {})
        if evaluating_only and not (res.get("CPU") or res.get("GPU")):
            continue
        if n.get("Alive") and n["NodeID"] not in known:
            strategy = NodeAffinitySchedulingStrategy(n["NodeID"], soft=False)
            refs[n["NodeID"]] = probe.options(num_cpus=0, scheduling_strategy=strategy).remote()
    ready = ray.wait(list(refs.values()), num_returns=len(refs), timeout=timeout_s)[0] if refs else []
    out = []
    for n in nodes:
        res = n.get("Resources", {})
        row = {"node_id": n["NodeID"], "address": n.get("NodeManagerAddress"), "alive": bool(n.get("Alive")),
               "head": "node:__internal_head__" in res, "cpus": res.get("CPU", 0.0), "gpus": res.get("GPU", 0.0),
               "memory_gb": res.get("memory", 0.0) / (1 << 30)}
        ref = refs.get(n["NodeID"])
        if n["NodeID"] in known:
            row["probe"] = known[n["NodeID"]]
        elif ref is not None:
            if ref in ready:
                try:
                    row.update(probe=ray.get(ref))
                except Exception as e:  # noqa: BLE001 - reported, not raised: this is a diagnosis
                    row["probe_error"] = f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}"
            else:
                row["probe_error"] = f"no answer within {timeout_s:g} s"
        out.append(row)
    return out


def cluster_summary(address: str | None = "auto", sandbox: str = "auto") -> list[tuple[str, str, bool, str]]:
    """Rows for `discover doctor`, in its (component, backend, usable, detail) shape: one for the cluster, one per
    node (resources; which sandbox it would use, or why none). Never raises: a missing Ray or an unreachable
    cluster is one unusable row."""
    try:
        ray = import_ray()
        connected = connect(address)
    except ConfigError as e:
        return [("ray", "cluster", False, str(e))]
    try:
        reports = node_reports()
    except Exception as e:  # noqa: BLE001 - the doctor reports it
        return [("ray", f"cluster {address or 'local'}", False, f"{type(e).__name__}: {e}")]
    finally:
        if connected:
            ray.shutdown()
    alive = [r for r in reports if r["alive"]]
    summary = (f"ray {ray.__version__}, {len(alive)} nodes alive ({len(reports) - len(alive)} dead), "
               f"{sum(r['cpus'] for r in alive):g} CPUs, {sum(r['gpus'] for r in alive):g} GPUs")
    rows = [("ray", f"cluster {address or 'local'}", bool(alive), summary)]
    for r in reports:
        name = f"node {r['node_id'][:8]} ({r['address']}{', head' if r['head'] else ''})"
        res = f"{r['cpus']:g} CPUs, {r['gpus']:g} GPUs, {r['memory_gb']:.1f} GiB"
        if not r["alive"]:
            rows.append(("ray", name, False, "dead"))
            continue
        if "probe" not in r:
            rows.append(("ray", name, False, f"{res}; probe failed: {r.get('probe_error')}"))
            continue
        p = r["probe"]
        chosen, why = _sandbox_choice(sandbox, p["backends"], r["gpus"])
        detail = f"{res}; discover {p['discover']}; sandbox " + (chosen if chosen else f"none: {why}")
        rows.append(("ray", name, chosen is not None, detail))
    return rows


class _NoSlot(Exception):
    pass


class _Slot:
    """One SandboxSlot actor as the driver sees it: ready once its `info` call answered, busy while a call runs."""

    def __init__(self, handle: Any) -> None:
        self.handle = handle
        self.busy = 0
        self.info: dict[str, Any] | None = None
        self.last_error: str | None = None
        self._probe = None
        self._next_probe = 0.0
        self.reprobe()

    def reprobe(self) -> None:
        self.info = None
        self._next_probe = time.monotonic() + 1.0  # a slot that keeps failing is asked once a second, not spun on
        self._probe = self.handle.info.remote().future()  # answers once the actor is (re)started

    def ready(self) -> bool:
        if self._probe is None or not self._probe.done():
            return False
        if self._probe.exception() is not None:
            self.last_error = _first_line(self._probe.exception())
            if time.monotonic() >= self._next_probe:
                self.reprobe()   # Ray restarts it (or it waits for room); ask again
            return False
        self.info = self._probe.result()
        return True

    @property
    def node(self) -> str | None:
        return (self.info or {}).get("node_id")


class _SlotPool:
    """The slot actors for one resource shape (cpus, gpus, memory_mb): a problem's evaluations all share one."""

    def __init__(self, actor_cls: Any, shape: tuple[float, int, int], n: int, sandbox: str, gpus: Any) -> None:
        cpus, gpu_count, memory_mb = shape
        self.shape_text = f"{cpus:g} CPU, {gpu_count} GPU, {memory_mb} MB"
        # max_task_retries=0: a lost call is resubmitted by RayExecutor (one answer per run); max_concurrency=2:
        # cancel() must run while run() blocks
        opts = {"num_cpus": cpus, "num_gpus": gpu_count, "memory": int(memory_mb) * MiB, "max_restarts": -1,
                "max_task_retries": 0, "max_concurrency": 2, "scheduling_strategy": "SPREAD"}
        self.slots = [_Slot(actor_cls.options(**opts).remote(sandbox, gpu_count or gpus or None)) for _ in range(n)]
        self._lock = threading.Lock()

    async def acquire(self, avoid: set[int], start_timeout_s: float) -> _Slot:
        """An idle, started slot (preferring ones not in `avoid`: slots that just lost this evaluation). Gives up
        when no slot at all has been up for `start_timeout_s` (waiting behind busy ones never times out)."""
        t0 = time.monotonic()
        while True:
            with self._lock:
                up = [s for s in self.slots if s.ready()]
                idle = [s for s in up if s.busy == 0]
                pick = next((s for s in idle if id(s) not in avoid), idle[0] if idle else None)
                if pick is not None:
                    pick.busy += 1
                    return pick
            if up:
                t0 = time.monotonic()
            elif time.monotonic() - t0 > start_timeout_s:
                errors = sorted({s.last_error for s in self.slots if s.last_error})
                raise _NoSlot(f"no Ray evaluation slot came up within {start_timeout_s:g} s: " + (
                    f"{errors[0]}" if errors else "does a node have the resources of one evaluation "
                    f"({self.shape_text})?"))
            await asyncio.sleep(0.01)  # only while every slot is busy or starting

    def release_when_done(self, slot: _Slot, ref: Any) -> None:
        def done(f: Any) -> None:
            f.exception()  # retrieved: a lost slot's error is handled by the awaiting run
            with self._lock:
                slot.busy -= 1

        ref.future().add_done_callback(done)

    def kill(self) -> None:
        ray = import_ray()
        for s in self.slots:
            try:
                ray.kill(s.handle, no_restart=True)
            except Exception:  # noqa: BLE001, S110 - already gone
                pass


class RayExecutor:
    name = "ray"

    def __init__(self, *, address: str | None = None, sandbox: str = "auto", workers: int | None = None,
                 gpus: Any = None, mode: str = "actors", margin_s: float = MARGIN_S,
                 max_attempts: int = MAX_ATTEMPTS, start_timeout_s: float = START_TIMEOUT_S) -> None:
        if mode not in ("actors", "tasks"):
            raise ConfigError(f"unknown ray executor mode {mode!r}; choose actors or tasks")
        self.ray = import_ray()
        self.address = address
        self.sandbox = sandbox or "auto"
        self.gpus = gpus
        self.mode = mode
        self.margin_s = margin_s
        self.max_attempts = max(1, max_attempts)
        self.start_timeout_s = start_timeout_s
        self._owns_ray = connect(address)
        res = self.ray.cluster_resources()
        if workers:
            self.workers = int(workers)
        elif gpus:
            self.workers = max(1, int(res.get("GPU", 0) // max(1, int(gpus))))
        else:
            self.workers = max(1, int(res.get("CPU", 1)))
        self._pools: dict[tuple, _SlotPool] = {}
        self._pools_lock = threading.Lock()
        self._slots: dict[int, asyncio.Semaphore] = {}  # per event loop, as in LocalExecutor
        self._described: dict[str, Any] | None = None
        self._closed = False
        if mode == "actors":
            from discover.executors.ray_worker import SandboxSlot

            self._actor_cls = self.ray.remote(SandboxSlot)
        else:
            from discover.executors.ray_worker import run_task

            self._task = self.ray.remote(run_task)

    @classmethod
    def open(cls, *, ray_address: str | None = None, sandbox: str = "auto", workers: int | None = None,
             gpus: Any = None, **kw: Any) -> RayExecutor:
        known = {k: kw[k] for k in ("mode", "margin_s", "max_attempts", "start_timeout_s") if k in kw}
        return cls(address=ray_address, sandbox=sandbox, workers=workers, gpus=gpus, **known)

    @property
    def capacity(self) -> int:
        return self.workers

    @property
    def backend(self) -> str:
        return f"ray/{self.describe().get('sandbox') or self.sandbox}"

    # -- running -------------------------------------------------------------------------------------------------
    def _pool(self, job: CandidateRun) -> _SlotPool:
        shape = (float(job.cpus), int(job.gpus), int(job.memory_mb))
        with self._pools_lock:
            if shape not in self._pools:
                self._pools[shape] = _SlotPool(self._actor_cls, shape, self.workers, self.sandbox, self.gpus)
            return self._pools[shape]

    def _guard_s(self, job: CandidateRun, deadline: float | None) -> tuple[float, bool]:
        """How long to wait for the answer, and whether that limit is the caller's deadline."""
        guard = job.timeout_s + self.margin_s
        if deadline is not None:
            left = deadline - time.monotonic() + 2.0  # the sandbox stops at the deadline itself; 2 s to answer
            if left < guard:
                return max(0.0, left), True
        return guard, False

    async def run(self, job: CandidateRun, deadline: float | None = None) -> RawRun:
        if self._closed:
            return RawRun("cancelled", error="the executor is closed")
        loop = id(asyncio.get_running_loop())
        if loop not in self._slots:
            self._slots[loop] = asyncio.Semaphore(self.capacity)
        async with self._slots[loop]:
            if deadline is not None and deadline <= time.monotonic():
                return RawRun("cancelled", error="the deadline passed before it started")
            if self.mode == "tasks":
                return await self._run_task(job, deadline)
            return await self._run_on_slot(job, deadline)

    async def _run_on_slot(self, job: CandidateRun, deadline: float | None) -> RawRun:
        ray = self.ray
        pool = self._pool(job)
        lost: set[int] = set()
        why = ""
        for attempt in range(1, self.max_attempts + 1):
            try:
                slot = await pool.acquire(lost, self.start_timeout_s)
            except _NoSlot as e:
                return RawRun("crash", error=str(e), extra={"infrastructure": True})
            remaining = None if deadline is None else max(0.0, deadline - time.monotonic())
            ticket = uuid.uuid4().hex
            ref = slot.handle.run.remote(job, remaining, ticket)
            pool.release_when_done(slot, ref)
            guard, is_deadline = self._guard_s(job, deadline)
            try:
                raw = await asyncio.wait_for(asyncio.shield(_awaitable(ref)), guard)
            except asyncio.TimeoutError:
                if is_deadline:
                    slot.handle.cancel.remote(ticket)
                    return RawRun("cancelled", error="the run's deadline came first", node=slot.node)
                # no answer at timeout + margin: the slot is hung (the sandbox would have answered). Kill it; Ray
                # restarts it with a fresh sandbox.
                ray.kill(slot.handle, no_restart=False)
                slot.reprobe()
                return RawRun("timeout", node=slot.node, extra={"attempts": attempt, "killed_worker": True},
                              error=f"no answer within {guard:g} s (timeout {job.timeout_s:g} s + margin "
                                    f"{self.margin_s:g} s); its Ray worker was killed")
            except asyncio.CancelledError:
                slot.handle.cancel.remote(ticket)  # stops the sandbox worker there; the slot frees when it answers
                raise
            except ray.exceptions.RayTaskError as e:  # SandboxSlot itself raised: not the candidate's doing
                return RawRun("crash", error=f"the Ray slot failed: {_first_line(e)}", node=slot.node,
                              extra={"infrastructure": True})
            except ray.exceptions.RayError as e:  # the worker or its node died: run it again on another slot
                why = _first_line(e)
                lost.add(id(slot))
                slot.reprobe()
                continue
            raw.extra = {**raw.extra, "attempts": attempt}
            return raw
        return RawRun("crash", error=f"lost {self.max_attempts} times (a Ray worker or node died each time): {why}",
                      extra={"infrastructure": True, "attempts": self.max_attempts})

    async def _run_task(self, job: CandidateRun, deadline: float | None) -> RawRun:
        ray = self.ray
        remaining = None if deadline is None else max(0.0, deadline - time.monotonic())
        ref = self._task.options(num_cpus=job.cpus, num_gpus=job.gpus, memory=int(job.memory_mb) * MiB,
                                 max_retries=self.max_attempts - 1, retry_exceptions=False,
                                 scheduling_strategy="SPREAD").remote(job, remaining, self.sandbox,
                                                                      job.gpus or self.gpus or None)
        guard, is_deadline = self._guard_s(job, deadline)
        try:
            return await asyncio.wait_for(asyncio.shield(_awaitable(ref)), guard)
        except asyncio.TimeoutError:
            ray.cancel(ref, force=True)
            if is_deadline:
                return RawRun("cancelled", error="the run's deadline came first")
            return RawRun("timeout", extra={"killed_worker": True},
                          error=f"no answer within {guard:g} s (timeout {job.timeout_s:g} s + margin "
                                f"{self.margin_s:g} s); its Ray task was force-cancelled")
        except asyncio.CancelledError:
            ray.cancel(ref, force=True)
            raise
        except ray.exceptions.RayTaskError as e:
            return RawRun("crash", error=f"the Ray task failed: {_first_line(e)}", extra={"infrastructure": True})
        except ray.exceptions.RayError as e:
            return RawRun("crash", error=f"lost {self.max_attempts} times (a Ray worker or node died each time): "
                                         f"{_first_line(e)}", extra={"infrastructure": True})

    # -- reporting -----------------------------------------------------------------------------------------------
    def describe(self) -> dict[str, Any]:
        """Cluster size and the sandbox on the nodes that can run evaluations (probed once, by a zero-CPU task on
        every alive node; the isolation note is the node's own)."""
        if self._described is None:
            known = {s.node: s.info for pool in self._pools.values() for s in pool.slots if s.ready() and s.node}
            reports = [r for r in node_reports(known=known, evaluating_only=True) if r["alive"]]
            chosen: dict[str, str] = {}
            notes: dict[str, str] = {}
            for r in reports:
                if not (r["cpus"] or r["gpus"]):
                    continue  # a head started with --num-cpus=0 runs no evaluation
                if "probe" not in r:
                    chosen[r["node_id"]] = f"unknown ({r.get('probe_error')})"
                    continue
                b, why = _sandbox_choice(self.sandbox, r["probe"]["backends"], self.gpus)
                chosen[r["node_id"]] = b or f"none ({why})"
                if b:
                    notes[b] = r["probe"].get("notes", {}).get(b, "")
            kinds = sorted(set(chosen.values()))
            sandbox = ", ".join(kinds) or "unknown"
            versions = sorted({r["probe"]["discover"] for r in reports if "probe" in r})
            self._described = {
                "executor": "ray", "address": self.address or "local", "ray": self.ray.__version__,
                "mode": self.mode, "workers": self.workers, "nodes": len(reports),
                "cpus": sum(r["cpus"] for r in reports), "gpus": sum(r["gpus"] for r in reports),
                "sandbox": sandbox, "discover_on_nodes": versions,
                "isolation_note": notes.get(sandbox) or f"nodes differ or lack a sandbox: {sandbox}"}
        return self._described

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        for pool in self._pools.values():
            pool.kill()
        if self._owns_ray:
            self.ray.shutdown()


def _awaitable(ref: Any) -> asyncio.Future:
    """An asyncio future for a Ray result whose error is always retrieved (an abandoned wait would log it)."""
    fut = asyncio.wrap_future(ref.future())
    fut.add_done_callback(lambda f: f.cancelled() or f.exception())
    return fut


def _first_line(e: BaseException) -> str:
    text = str(e).strip()
    return f"{type(e).__name__}: {text.splitlines()[0] if text else ''}"[:300]
