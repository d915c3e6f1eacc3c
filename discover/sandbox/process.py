"""process backend: the fork server as a plain child process. NOT isolation: rlimits, a process group,
a clean environment, the audit hook (no sockets, no writes outside scratch) — and, when we are root
(root ignores RLIMIT_NPROC), a cgroup-v1 pids group where writable that caps forks and lets us kill
everything the candidate started."""

from __future__ import annotations

import os
import signal
from pathlib import Path

from discover.sandbox.worker import ProcessWorker

PIDS_ROOT = Path("/sys/fs/cgroup/pids")
PIDS_MAX = 256


def _own_pids_cgroup() -> Path | None:
    try:
        for line in Path("/proc/self/cgroup").read_text().splitlines():
            _, ctrl, path = line.split(":", 2)
            if "pids" in ctrl.split(","):
                base = PIDS_ROOT / path.lstrip("/")
                return base if os.access(base, os.W_OK) else None
    except OSError:
        pass
    return None


class CgroupProcessWorker(ProcessWorker):
    cgroup: Path | None = None

    def _spawn(self) -> None:
        base = _own_pids_cgroup() if os.getuid() == 0 else None
        self.cgroup = None
        if base is not None:
            cg = base / f"discover-{os.getpid()}-{self.index}-{self.uid}"
            try:
                cg.mkdir(exist_ok=True)
                (cg / "pids.max").write_text(str(PIDS_MAX))
                self.cgroup = cg
            except OSError:
                self.cgroup = None
        cg_path = str(self.cgroup) if self.cgroup else None

        def join() -> None:  # in the child, before exec: the server and all it forks live in the group
            if cg_path:
                with open(os.path.join(cg_path, "cgroup.procs"), "w") as f:
                    f.write(str(os.getpid()))

        self._spawn_cmd(extra=["--cgroup", cg_path] if cg_path else [], preexec=join)

    def _cg_pids(self) -> list[int]:
        if self.cgroup is None:
            return []
        try:
            return [int(x) for x in (self.cgroup / "cgroup.procs").read_text().split()]
        except OSError:
            return []

    def _kill(self) -> None:
        super()._kill()
        for _ in range(100):
            pids = self._cg_pids()
            if not pids:
                break
            for pid in pids:
                try:
                    os.kill(pid, signal.SIGKILL)
                except OSError:
                    pass
            import time

            time.sleep(0.01)
        if self.cgroup is not None:
            import time

            for _ in range(50):  # EBUSY while the last killed tasks are still being torn down
                try:
                    self.cgroup.rmdir()
                    break
                except FileNotFoundError:
                    break
                except OSError:
                    time.sleep(0.02)
            self.cgroup = None
