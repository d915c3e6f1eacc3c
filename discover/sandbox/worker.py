"""One warm worker: the fork server (sandbox/runner.py) inside some isolation, spoken to with framed messages.

The host owns the channel: every request carries an id and the answer must carry the same one; anything else on
the channel (garbage, a wrong id, a frame too large, the server dying or hanging past timeout + grace) kills the
worker — the request gets a failure result, the next request a fresh worker — and is never accepted as a result.
What comes back is the candidate side's output as opaque bytes: the judge decodes and scores it.
"""

from __future__ import annotations

import json
import os
import queue
import random
import selectors
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from discover.executors.base import RAW_STATUSES, CandidateRun, RawRun
from discover.sandbox.cgroups import WorkerCgroup

SANDBOX_DIR = Path(__file__).resolve().parents[2] / "sandbox"
RUNNER = SANDBOX_DIR / "runner.py"
WIRE = Path(__file__).resolve().parents[1] / "wire.py"
GRACE_S = 10.0            # host-side slack on top of the request's timeout (the server enforces the real one)
START_TIMEOUT_S = 60.0
SERVER_OVERHEAD_MB = 96   # the server's own share of the worker's memory cgroup (Python + numpy)
TMP_PREFIX = "discover-sb-"
FRAME_MAGIC = b"DSR1"
FRAME_HEAD = struct.Struct("<4sIQ")


class WorkerDied(Exception):
    pass


class _Spawner:
    """Starts worker processes from one long-lived thread. bwrap's --die-with-parent (PR_SET_PDEATHSIG) fires
    when the *thread* that started it exits, and evaluations run in pool threads that come and go (each
    asyncio.run has its own executor): a worker started there would be killed when its thread ends."""

    def __init__(self) -> None:
        self._q: queue.Queue = queue.Queue()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def _loop(self) -> None:
        while True:
            fn, box, done = self._q.get()
            try:
                box.append((True, fn()))
            except BaseException as exc:  # noqa: BLE001 - handed back to the caller
                box.append((False, exc))
            done.set()

    def call(self, fn):
        with self._lock:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._loop, name="discover-spawner", daemon=True)
                self._thread.start()
        box: list = []
        done = threading.Event()
        self._q.put((fn, box, done))
        done.wait()
        ok, value = box[0]
        if not ok:
            raise value
        return value


SPAWNER = _Spawner()


def fresh_uid() -> int:
    """A uid no one else uses: each worker's candidates can be found (and killed) by uid alone."""
    return random.randint(200_000, 2_000_000_000)


def sandbox_env(gpus: Any = None) -> dict[str, str]:
    """The only environment a candidate sees: no keys, no proxies, single-threaded BLAS."""
    return {"PATH": "/usr/local/bin:/usr/bin:/bin", "LANG": "C.UTF-8", "HOME": "/tmp", "PYTHONHASHSEED": "0",
            "PYTHONDONTWRITEBYTECODE": "1", "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1",
            "MKL_NUM_THREADS": "1", **({} if gpus else {"CUDA_VISIBLE_DEVICES": ""})}


class Worker:
    """Base: subclasses say how to start the server (`_spawn`), where its channel is, and how to kill it."""

    backend = "?"

    def __init__(self, index: int, gpus: Any = None, hide: list[Path] | None = None) -> None:
        self.index = index
        self.gpus = gpus
        self.hide = list(hide or [])
        self.uid = fresh_uid()
        self.tmp: Path | None = None
        self.proc: subprocess.Popen | None = None
        self.cgroup: WorkerCgroup | None = None
        self.base_memory = 0
        self.scratch_mb = 256
        self.memory_mb = 1024
        self.hello: dict = {}
        self._buf = bytearray()
        self._counter = 0
        self.lock = threading.Lock()

    # -- lifecycle --------------------------------------------------------------------------------------------
    def _make_tmp(self) -> Path:
        d = Path(tempfile.mkdtemp(prefix=f"{TMP_PREFIX}{os.getpid()}-{self.index}-"))
        d.chmod(0o755)
        return d

    def start(self) -> None:
        self.stop()
        self.tmp = self._make_tmp()
        self._buf = bytearray()
        self.cgroup = WorkerCgroup(f"{self.index}-{self.uid}") if os.getuid() == 0 else None
        SPAWNER.call(self._spawn)
        try:
            hello, _ = self._read_frame(time.monotonic() + START_TIMEOUT_S)
        except (TimeoutError, WorkerDied, ValueError) as exc:
            err = self._stderr_text()
            self.stop()
            raise WorkerDied(f"{self.backend} worker did not start: {err or exc}") from None
        if not hello.get("ready"):
            self.stop()
            raise WorkerDied(f"{self.backend} worker did not start: {hello!r:.200}")
        self.hello = hello
        self._protect_server()

    def _protect_server(self) -> None:
        """The server and bwrap never get picked by the OOM killer; candidates raise their own score to 1000."""
        if self.cgroup is None:
            return
        for pid in self.cgroup.pids():
            try:
                Path(f"/proc/{pid}/oom_score_adj").write_text("-1000")
            except OSError:
                pass
        self.base_memory = self.cgroup.usage()

    def _spawn(self) -> None:
        raise NotImplementedError

    def _kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except OSError:
                pass
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                pass

    def stop(self) -> None:
        self._kill()
        if self.cgroup is not None:
            self.cgroup.remove()
            self.cgroup = None
        if self.proc is not None:
            for f in (self.proc.stdin, self.proc.stdout, self.proc.stderr):
                try:
                    if f:
                        f.close()
                except OSError:
                    pass
        self.proc = None
        if self.tmp is not None:
            shutil.rmtree(self.tmp, ignore_errors=True)
            self.tmp = None

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def _death_reason(self) -> str:
        code = self.proc.poll() if self.proc is not None else None
        err = self._stderr_text()
        return f"the sandbox worker died (exit {code}{': ' + err if err else ''})"

    def _stderr_text(self) -> str:
        if self.proc is None or self.proc.stderr is None:
            return ""
        try:
            os.set_blocking(self.proc.stderr.fileno(), False)
            data = self.proc.stderr.read() or b""
        except (OSError, ValueError, TypeError):
            data = b""
        return data.decode("utf-8", "replace").strip().splitlines()[-1][:300] if data.strip() else ""

    # -- channel ----------------------------------------------------------------------------------------------
    def _write(self, data: bytes) -> None:
        assert self.proc is not None and self.proc.stdin is not None
        self.proc.stdin.write(data)
        self.proc.stdin.flush()

    def _read_fd(self) -> int:
        assert self.proc is not None and self.proc.stdout is not None
        return self.proc.stdout.fileno()

    def _fill(self, n: int, deadline: float) -> None:
        fd = self._read_fd()
        with selectors.DefaultSelector() as sel:
            sel.register(fd, selectors.EVENT_READ)
            while len(self._buf) < n:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError
                if not sel.select(min(left, 1.0)):
                    if not self.alive():
                        raise WorkerDied(self._death_reason())
                    continue
                chunk = os.read(fd, 1 << 20)
                if not chunk:
                    raise WorkerDied(self._death_reason())
                self._buf += chunk

    def _read_frame(self, deadline: float, max_payload: int = 1 << 31) -> tuple[dict, bytes]:
        self._fill(FRAME_HEAD.size, deadline)
        magic, hlen, plen = FRAME_HEAD.unpack_from(self._buf, 0)
        if magic != FRAME_MAGIC or hlen > 1 << 20 or plen > max_payload:
            raise ValueError("the sandbox answered something that is not a result frame")
        total = FRAME_HEAD.size + hlen + plen
        self._fill(total, deadline)
        head = json.loads(bytes(self._buf[FRAME_HEAD.size:FRAME_HEAD.size + hlen]))
        payload = bytes(self._buf[FRAME_HEAD.size + hlen:total])
        del self._buf[:total]
        if not isinstance(head, dict):
            raise ValueError("the sandbox answered a malformed header")
        return head, payload

    def _send(self, header: dict, payload: bytes) -> None:
        head = json.dumps(header, separators=(",", ":")).encode()
        self._write(FRAME_HEAD.pack(FRAME_MAGIC, len(head), len(payload)) + head + payload)

    # -- one evaluation ---------------------------------------------------------------------------------------
    def needs_restart(self, job: CandidateRun) -> bool:
        return not self.alive() or job.scratch_mb != self.scratch_mb  # the scratch tmpfs is sized at start

    def run(self, job: CandidateRun, deadline: float | None = None) -> RawRun:
        t0 = time.monotonic()
        output_limit = 256 << 20
        try:
            if self.needs_restart(job):
                self.memory_mb, self.scratch_mb = job.memory_mb, job.scratch_mb
                self.start()
            if self.cgroup is not None and self.cgroup.caps_memory:
                self.cgroup.set_memory_limit(self.base_memory + ((job.memory_mb + 16) << 20))
            self.mark_memory()
            self._counter += 1
            rid = self._counter
            self._send({"id": rid, "code": job.code, "files": job.files, "instance_set": job.instance_set,
                        "timeout_s": job.timeout_s, "memory_mb": job.memory_mb, "output_limit": output_limit},
                       job.payload)
            limit = t0 + job.timeout_s + GRACE_S
            cancelled = deadline is not None and deadline < limit
            try:
                head, blob = self._read_frame(min(limit, deadline) if deadline is not None else limit,
                                              max_payload=output_limit + (2 << 20))
            except TimeoutError:
                self.stop()
                if cancelled:
                    return RawRun("cancelled", error="cancelled: the run's wall-clock budget ran out",
                                  duration_s=time.monotonic() - t0)
                return RawRun("timeout", error=f"timed out after {job.timeout_s:g} s (worker unresponsive, restarted)",
                              duration_s=time.monotonic() - t0)
            if head.get("id") != rid or head.get("status") not in RAW_STATUSES:
                self.stop()
                return RawRun("crash", error="sandbox protocol error (answer did not match the request); worker "
                                             "restarted", duration_s=time.monotonic() - t0)
            return self._postprocess(head, blob, time.monotonic() - t0)
        except (WorkerDied, OSError, ValueError) as e:
            self.stop()
            return RawRun("crash", error=f"sandbox worker failed: {e}", duration_s=time.monotonic() - t0)

    def mark_memory(self) -> None:
        """Start counting memory kills for this evaluation."""
        if self.cgroup is not None:
            self.cgroup.take_oom_kills()

    def _memory_killed(self, head: dict) -> bool:
        return bool(self.cgroup is not None and self.cgroup.take_oom_kills() > 0)

    def _postprocess(self, head: dict, blob: bytes, duration: float) -> RawRun:
        status = head["status"]
        error = head.get("error")
        if status == "crash" and self._memory_killed(head):
            status, error = "memory", f"killed for exceeding the memory limit of {self.memory_mb} MB " \
                                      f"(the whole process tree counts)"
        extra = {k: head[k] for k in ("problem_fault", "memory_peak_mb") if head.get(k) is not None}
        return RawRun(status=status, output=blob if status == "ok" else None, error=error,
                      traceback=head.get("traceback"), stdout_tail=str(head.get("stdout_tail") or ""),
                      stderr_tail=str(head.get("stderr_tail") or ""), duration_s=float(head.get("duration_s") or duration),
                      extra=extra)


def runner_files() -> dict[Path, str]:
    """Host file -> name inside the sandbox's /opt/discover."""
    return {RUNNER: "runner.py", WIRE: "wire.py"}


def leftover_tmp_dirs() -> list[Path]:
    """Scratch/ipc dirs of discover processes that are gone (e.g. killed with SIGKILL)."""
    out = []
    for d in Path(tempfile.gettempdir()).glob(f"{TMP_PREFIX}*"):
        try:
            pid = int(d.name[len(TMP_PREFIX):].split("-")[0])
            os.kill(pid, 0)
        except ProcessLookupError:
            out.append(d)
        except (ValueError, PermissionError, OSError):
            pass
    return out


def python_cmd() -> list[str]:
    return [str(Path(sys.executable)), "-I"]
