"""Per-worker cgroups (v1 memory + pids, where this host lets us create them): a memory cap for a candidate's whole
process tree (forked children and memfd/tmpfs pages included), a process cap, OOM-kill counting, and killing every
member. Where they cannot be created, the fork server's supervisor sums the tree's memory instead (runner.py)."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

ROOT = Path("/sys/fs/cgroup")
PREFIX = "discover-"
PIDS_MAX = 256


def _own(controller: str) -> Path | None:
    """Our own cgroup directory for a v1 controller, if it is mounted and writable."""
    try:
        for line in Path("/proc/self/cgroup").read_text().splitlines():
            _, ctrls, path = line.split(":", 2)
            if controller in ctrls.split(","):
                base = ROOT / controller / path.lstrip("/")
                return base if base.is_dir() and os.access(base, os.W_OK) else None
    except OSError:
        pass
    return None


FORCE_SUPERVISOR = "DISCOVER_MEMORY_CAP"  # =supervisor: never use a memory cgroup (tests, hosts with broken ones)


def _supervisor_forced() -> bool:
    return os.environ.get(FORCE_SUPERVISOR) == "supervisor"


def memory_cap_mode() -> str:
    """'cgroup' when a v1 memory cgroup can be made here (the cap holds for the whole tree), else 'supervisor'."""
    base = _own("memory") if not _supervisor_forced() else None
    if base is None:
        return "supervisor"
    probe = base / f"{PREFIX}probe-{os.getpid()}"
    try:
        probe.mkdir()
        probe.rmdir()
        return "cgroup"
    except OSError:
        return "supervisor"


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _kill_members(d: Path) -> None:
    for _ in range(200):
        try:
            pids = [int(x) for x in (d / "cgroup.procs").read_text().split()]
        except OSError:
            return
        if not pids:
            return
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        time.sleep(0.01)


def _rmdir(d: Path) -> None:
    for _ in range(100):  # EBUSY while killed tasks are still being torn down
        try:
            d.rmdir()
            return
        except FileNotFoundError:
            return
        except OSError:
            time.sleep(0.02)


class WorkerCgroup:
    """memory + pids cgroups named discover-<our pid>-<worker>-<n>."""

    def __init__(self, name: str) -> None:
        self.dirs: dict[str, Path] = {}
        for ctrl in ("memory", "pids"):
            base = _own(ctrl)
            if base is None or (ctrl == "memory" and _supervisor_forced()):
                continue
            d = base / f"{PREFIX}{os.getpid()}-{name}"
            try:
                d.mkdir(exist_ok=True)
                self.dirs[ctrl] = d
            except OSError:
                pass
        if "pids" in self.dirs:
            try:
                (self.dirs["pids"] / "pids.max").write_text(str(PIDS_MAX))
            except OSError:
                pass
        self._oom_base = self.oom_kills()

    @property
    def caps_memory(self) -> bool:
        return "memory" in self.dirs

    def join_command(self):
        """A preexec_fn: the spawned process (and all it forks) lives in these cgroups."""
        paths = [str(d / "cgroup.procs") for d in self.dirs.values()]

        def join() -> None:
            for p in paths:
                with open(p, "w") as f:
                    f.write(str(os.getpid()))

        return join

    def add(self, pid: int) -> None:
        for d in self.dirs.values():
            try:
                (d / "cgroup.procs").write_text(str(pid))
            except OSError:
                pass

    def pids(self) -> list[int]:
        d = self.dirs.get("memory") or self.dirs.get("pids")
        if d is None:
            return []
        try:
            return [int(x) for x in (d / "cgroup.procs").read_text().split()]
        except OSError:
            return []

    def usage(self) -> int:
        try:
            return int((self.dirs["memory"] / "memory.usage_in_bytes").read_text())
        except (KeyError, OSError, ValueError):
            return 0

    def set_memory_limit(self, limit: int) -> None:
        d = self.dirs.get("memory")
        if d is None:
            return
        mem, memsw = d / "memory.limit_in_bytes", d / "memory.memsw.limit_in_bytes"
        try:
            current = int(mem.read_text())
        except (OSError, ValueError):
            current = 0
        # memsw must stay >= memory: raise memsw first when growing, memory first when shrinking
        order = [memsw, mem] if limit > current else [mem, memsw]
        for f in order:
            try:
                f.write_text(str(limit))
            except OSError:
                pass

    def oom_kills(self) -> int:
        d = self.dirs.get("memory")
        if d is None:
            return 0
        try:
            for line in (d / "memory.oom_control").read_text().splitlines():
                if line.startswith("oom_kill "):
                    return int(line.split()[1])
            return int((d / "memory.failcnt").read_text())
        except (OSError, ValueError):
            return 0

    def take_oom_kills(self) -> int:
        """OOM kills since the last call."""
        now = self.oom_kills()
        n, self._oom_base = now - self._oom_base, now
        return n

    def kill_all(self) -> None:
        for d in self.dirs.values():
            _kill_members(d)

    def remove(self) -> None:
        self.kill_all()
        for d in self.dirs.values():
            _rmdir(d)
        self.dirs = {}


def oom_control_file(pid: int) -> Path | None:
    """memory.oom_control of the memory cgroup a host process is in (e.g. a Docker container's init)."""
    try:
        for line in Path(f"/proc/{pid}/cgroup").read_text().splitlines():
            _, ctrls, path = line.split(":", 2)
            if "memory" in ctrls.split(","):
                f = ROOT / "memory" / path.lstrip("/") / "memory.oom_control"
                return f if f.exists() else None
    except OSError:
        pass
    return None


def read_oom_kills(f: Path) -> int:
    try:
        for row in f.read_text().splitlines():
            if row.startswith("oom_kill "):
                return int(row.split()[1])
    except (OSError, ValueError):
        pass
    return 0


def remove_dead_cgroups() -> int:
    """Cgroups a killed discover left behind (discover-<pid>-... with that pid gone): kill members, remove."""
    n = 0
    for ctrl in ("memory", "pids"):
        base = _own(ctrl)
        if base is None:
            continue
        for d in base.glob(f"{PREFIX}*"):
            try:
                pid = int(d.name[len(PREFIX):].split("-")[0])
            except ValueError:
                continue
            if pid != os.getpid() and not _pid_alive(pid):
                _kill_members(d)
                _rmdir(d)
                n += 1
    return n
