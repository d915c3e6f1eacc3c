"""One warm worker: a fork server (sandbox/runner.py serve) inside some isolation, spoken to with JSON lines.

The host side never trusts the server to stay healthy: if it dies, hangs past timeout + grace, or answers
garbage, the worker is killed (whole process group / container) and restarted on the next request, and the
request gets a "timeout" or "crash" result. Nothing the candidate does makes evaluate() raise.
"""

from __future__ import annotations

import json
import os
import random
import selectors
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from discover.sandbox.models import EvalRequest, EvalResult

RUNNER = Path(__file__).resolve().parents[2] / "sandbox" / "runner.py"
GRACE_S = 10.0  # host-side slack on top of the request's timeout (the server enforces the real one)
START_TIMEOUT_S = 60.0


class WorkerDied(Exception):
    pass


def fresh_uid() -> int:
    """A uid no one else uses: each worker's processes can then be found (and killed) by uid alone."""
    return random.randint(200_000, 2_000_000_000)


class Worker:
    """Base: subclasses say how to start the server (`_spawn`) and how to kill it (`_kill`)."""

    backend = "?"

    def __init__(self, index: int, gpus: Any = None) -> None:
        self.index = index
        self.gpus = gpus
        self.uid = fresh_uid()
        self.problem_dirs: set[Path] = set()
        self.scratch: Path | None = None
        self.proc: subprocess.Popen | None = None
        self._buf = b""
        self._counter = 0
        self.lock = threading.Lock()

    # -- lifecycle --------------------------------------------------------------------------------------------
    def _make_scratch(self) -> Path:
        d = Path(tempfile.mkdtemp(prefix=f"discover-sb{self.index}-"))
        if os.getuid() == 0 and self.backend != "process":
            os.chown(d, self.uid, self.uid)
        d.chmod(0o711 if self.backend == "bwrap" else 0o700)  # bwrap chdirs there before dropping root
        return d

    def start(self) -> None:
        self.stop()
        self.scratch = self._make_scratch()
        self._buf = b""
        self._spawn()
        line = self._read_line(time.monotonic() + START_TIMEOUT_S)
        try:
            hello = json.loads(line)
        except ValueError:
            hello = {}
        if not hello.get("ready"):
            err = self._stderr_text()
            self.stop()
            raise WorkerDied(f"{self.backend} worker did not start: {err or line[:200]!r}")

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
        if self.proc is not None:
            for f in (self.proc.stdin, self.proc.stdout, self.proc.stderr):
                try:
                    if f:
                        f.close()
                except OSError:
                    pass
        self.proc = None
        if self.scratch is not None:
            shutil.rmtree(self.scratch, ignore_errors=True)
            self.scratch = None

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def _stderr_text(self) -> str:
        if self.proc is None or self.proc.stderr is None:
            return ""
        try:
            os.set_blocking(self.proc.stderr.fileno(), False)
            data = self.proc.stderr.read() or b""
        except (OSError, ValueError, TypeError):
            data = b""
        return data.decode("utf-8", "replace").strip().splitlines()[-1][:300] if data.strip() else ""

    # -- protocol ---------------------------------------------------------------------------------------------
    def _write(self, data: bytes) -> None:
        assert self.proc is not None and self.proc.stdin is not None
        self.proc.stdin.write(data)
        self.proc.stdin.flush()

    def _read_fd(self) -> int:
        assert self.proc is not None and self.proc.stdout is not None
        return self.proc.stdout.fileno()

    def _read_line(self, deadline: float) -> bytes:
        fd = self._read_fd()
        with selectors.DefaultSelector() as sel:
            sel.register(fd, selectors.EVENT_READ)
            while b"\n" not in self._buf:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError
                if not sel.select(min(left, 1.0)):
                    if not self.alive():
                        raise WorkerDied("the sandbox worker died")
                    continue
                chunk = os.read(fd, 1 << 20)
                if not chunk:
                    raise WorkerDied("the sandbox worker died")
                self._buf += chunk
        line, self._buf = self._buf.split(b"\n", 1)
        return line

    def path_inside(self, p: Path) -> str:
        return str(p)

    def scratch_inside(self) -> str:
        return str(self.scratch)

    def writable_inside(self) -> list[str]:
        """Where the audit hook lets a candidate write (the real barrier is the backend's read-only mounts)."""
        return [self.scratch_inside()]

    def evaluate(self, req: EvalRequest) -> EvalResult:
        t0 = time.perf_counter()
        problem_dir = Path(req.problem_dir).resolve()
        try:
            if not self.alive() or problem_dir not in self.problem_dirs:
                self.problem_dirs.add(problem_dir)
                self.start()
            self._counter += 1
            msg = {"id": self._counter, "code": req.code, "problem_dir": self.path_inside(problem_dir),
                   "instance_set": req.instance_set, "timeout_s": req.timeout_s, "memory_mb": req.memory_mb,
                   "scratch": self.scratch_inside(), "writable": self.writable_inside()}
            self._write(json.dumps(msg).encode() + b"\n")
            line = self._read_line(time.monotonic() + req.timeout_s + GRACE_S)
            data = json.loads(line)
            data.pop("id", None)
            return self._postprocess(EvalResult.model_validate(data))
        except TimeoutError:
            self.stop()
            return EvalResult.failure("timeout", f"timed out after {req.timeout_s:g} s (worker unresponsive, restarted)",
                                      time.perf_counter() - t0)
        except (WorkerDied, OSError, ValueError) as e:
            self.stop()
            if "OOMKilled" in str(e):
                return EvalResult.failure("memory", "killed by the out-of-memory killer (container memory limit)",
                                          time.perf_counter() - t0)
            return EvalResult.failure("crash", f"sandbox worker failed: {e}", time.perf_counter() - t0)

    def _postprocess(self, res: EvalResult) -> EvalResult:
        return res


class ProcessWorker(Worker):
    """No isolation: a fresh process group, rlimits, a clean environment; as root, an unused uid of its own."""

    backend = "process"

    def _spawn(self) -> None:
        self._spawn_cmd()

    def _spawn_cmd(self, extra: list[str] | None = None, preexec=None) -> None:
        import sys

        # no uid change: the Python install may live where only its owner can read (/root/.pyenv)
        cmd = [sys.executable, "-I", str(RUNNER), "serve"] + (extra or [])
        self.proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     env=sandbox_env(self.gpus), cwd=str(self.scratch), start_new_session=True,
                                     close_fds=True, preexec_fn=preexec)


def sandbox_env(gpus: Any = None) -> dict[str, str]:
    """The only environment a candidate sees: no keys, no proxies, single-threaded BLAS."""
    return {"PATH": "/usr/local/bin:/usr/bin:/bin", "LANG": "C.UTF-8", "HOME": "/tmp", "PYTHONHASHSEED": "0",
            "PYTHONDONTWRITEBYTECODE": "1", "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1",
            "MKL_NUM_THREADS": "1", **({} if gpus else {"CUDA_VISIBLE_DEVICES": ""})}


def kill_uid(uid: int) -> None:
    """SIGKILL every process owned by `uid` (a uid that belongs to one worker alone)."""
    for _ in range(50):
        found = False
        for name in os.listdir("/proc"):
            if not name.isdigit():
                continue
            try:
                st = os.stat(f"/proc/{name}")
                if st.st_uid == uid:
                    os.kill(int(name), signal.SIGKILL)
                    found = True
            except OSError:
                pass
        if not found:
            return
        time.sleep(0.01)
