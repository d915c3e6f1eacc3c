"""Docker backend (docker SDK): one long-lived container per worker, the fork server inside it.

Container: network_mode none, read-only root, cap_drop ALL, no-new-privileges, pids limit, memory limit,
one CPU, an unprivileged uid of its own, the scratch dir as the only writable bind, /tmp a small tmpfs.
Requests and results travel through two FIFOs in a bind-mounted ipc dir (no attach-socket framing).
On a hang the container is killed and removed by id (killing a `docker run` client would not stop it).

Images:
* offline (default, no Docker Hub needed): `discover-sandbox:offline`, imported from a tarball of empty
  dirs + symlinks; the host's /usr, Python install and venv are bind-mounted read-only (starts in < 1 s).
* DISCOVER_SANDBOX_IMAGE=<name>: a self-contained image, e.g. built from sandbox/Dockerfile
  (`docker build -t discover-sandbox sandbox/`); then `python` and numpy come from the image.
"""

from __future__ import annotations

import functools
import io
import os
import selectors
import sys
import tarfile
import time
from pathlib import Path
from typing import Any

from discover.errors import SandboxError
from discover.sandbox.bwrap import SERVER_CAPS, _python_paths
from discover.sandbox.cgroups import oom_control_file, read_oom_kills
from discover.sandbox.worker import SERVER_OVERHEAD_MB, Worker, WorkerDied, runner_files, sandbox_env

OFFLINE_IMAGE = "discover-sandbox:offline"
LABEL = "discover.sandbox"


def _client(timeout: int = 10):
    import docker

    return docker.from_env(timeout=timeout)


@functools.lru_cache(maxsize=1)
def docker_unavailable() -> str | None:
    try:
        import docker  # noqa: F401
    except ImportError:
        return "the docker Python package is not installed (pip install docker)"
    try:
        c = _client(5)
        c.ping()
    except Exception as e:  # noqa: BLE001
        msg = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        return f"no Docker daemon answers ({msg[:160]}); start one, e.g. sandbox/docker-up.sh"
    return None


def image_name() -> str:
    return os.environ.get("DISCOVER_SANDBOX_IMAGE") or OFFLINE_IMAGE


def ensure_offline_image(client) -> str:
    """Import the skeleton image once: empty dirs and the /bin,/lib symlinks; everything else is bind-mounted."""
    try:
        client.images.get(OFFLINE_IMAGE)
        return OFFLINE_IMAGE
    except Exception:  # noqa: BLE001
        pass
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        def add_dir(name: str, mode: int = 0o755) -> None:
            ti = tarfile.TarInfo(name)
            ti.type, ti.mode = tarfile.DIRTYPE, mode
            tar.addfile(ti)

        for d in ("usr", "etc", "proc", "sys", "dev", "scratch", "ipc", "opt", "opt/discover", "root"):
            add_dir(d)
        add_dir("tmp", 0o1777)
        for d in ("bin", "lib", "lib64", "sbin"):
            p = Path("/") / d
            if p.is_symlink():
                ti = tarfile.TarInfo(d)
                ti.type, ti.linkname = tarfile.SYMTYPE, os.readlink(p)
                tar.addfile(ti)
        for name, text in (("etc/passwd", "root:x:0:0::/root:/bin/sh\nnobody:x:65534:65534::/tmp:/bin/sh\n"),
                           ("etc/group", "root:x:0:\nnogroup:x:65534:\n")):
            data = text.encode()
            ti = tarfile.TarInfo(name)
            ti.size = len(data)
            tar.addfile(ti, io.BytesIO(data))
    client.api.import_image_from_data(buf.getvalue(), repository=OFFLINE_IMAGE.split(":")[0],
                                      tag=OFFLINE_IMAGE.split(":")[1])
    return OFFLINE_IMAGE


def _device_requests(gpus: Any):
    if not gpus:
        return None
    import docker

    count = -1 if gpus == "all" else int(gpus)
    return [docker.types.DeviceRequest(count=count, capabilities=[["gpu"]])]


def check_gpus(gpus: Any) -> None:
    """Raise SandboxError (one line) if the daemon cannot hand GPUs to containers."""
    client = _client(30)
    image = image_name() if os.environ.get("DISCOVER_SANDBOX_IMAGE") else ensure_offline_image(client)
    try:
        c = client.containers.create(image, ["/bin/true"], device_requests=_device_requests(gpus),
                                     network_mode="none", labels={LABEL: "gpucheck"})
        try:
            c.start()
        finally:
            c.remove(force=True)
    except Exception as e:  # noqa: BLE001
        msg = str(e)
        if "could not select device driver" in msg:
            raise SandboxError("Docker cannot give containers a GPU here: could not select device driver for "
                               "capabilities [[gpu]] (install the NVIDIA Container Toolkit, or use gpus=None)") from None
        raise SandboxError(f"Docker GPU check failed: {msg.splitlines()[0][:200]}") from None


class DockerWorker(Worker):
    """The fork server runs as root inside the container with only the capabilities it needs to drop candidates
    to an unprivileged uid and clean up after them (candidates lose them all at setuid): a candidate cannot trace
    or signal PID 1. The container's memory limit holds for the whole tree; the server is shielded from the OOM
    killer and candidates raise their own OOM score, so a memory kill takes the candidate, not the server."""

    backend = "docker"

    def __init__(self, index: int, gpus: Any = None, hide=None) -> None:
        super().__init__(index, gpus, hide)
        self.container = None
        self.req_fd = self.resp_fd = -1
        self._dead = False
        self._oom_seen = 0

    def needs_restart(self, job) -> bool:
        return not self.alive() or job.memory_mb != self.memory_mb or job.scratch_mb != self.scratch_mb

    def _spawn(self) -> None:
        assert self.tmp is not None
        client = _client(60)
        offline = not os.environ.get("DISCOVER_SANDBOX_IMAGE")
        image = ensure_offline_image(client) if offline else image_name()
        ipc = self.tmp
        for name in ("req", "resp"):
            os.mkfifo(ipc / name, 0o600)
        volumes = {str(ipc): {"bind": "/ipc", "mode": "rw"}}
        for host, name in runner_files().items():
            volumes[str(host.resolve())] = {"bind": f"/opt/discover/{name}", "mode": "ro"}
        python = "python3"
        if offline:
            volumes["/usr"] = {"bind": "/usr", "mode": "ro"}
            for p in _python_paths():
                if not str(p).startswith("/usr/"):
                    volumes[str(p)] = {"bind": str(p), "mode": "ro"}
            for f in ("/etc/ld.so.cache", "/etc/localtime"):
                if os.path.exists(f):
                    volumes[f] = {"bind": f, "mode": "ro"}
            python = str(Path(sys.executable))
        self._dead = False
        limit = f"{self.memory_mb + SERVER_OVERHEAD_MB}m"
        self.container = client.containers.run(
            image, [python, "-I", "/opt/discover/runner.py", "serve", "--reap", "--uid", str(self.uid),
                    "--scratch", "/scratch", "--in", "/ipc/req", "--out", "/ipc/resp"],
            detach=True, user="0:0", network_mode="none", read_only=True, cap_drop=["ALL"],
            cap_add=[c.removeprefix("CAP_") for c in SERVER_CAPS], security_opt=["no-new-privileges"],
            pids_limit=256, mem_limit=limit, memswap_limit=limit, nano_cpus=1_000_000_000,
            tmpfs={"/tmp": "size=64m,mode=1777", "/scratch": f"size={self.scratch_mb}m,mode=0755"},
            environment={**sandbox_env(self.gpus), "TMPDIR": "/tmp"}, working_dir="/scratch",
            volumes=volumes, labels={LABEL: str(os.getpid())}, device_requests=_device_requests(self.gpus))
        self.req_fd = os.open(ipc / "req", os.O_RDWR)
        self.resp_fd = os.open(ipc / "resp", os.O_RDWR)
        self._oom_file = None
        self._oom_seen = self._container_oom_kills()

    def _protect_server(self) -> None:
        pass  # Docker may not lower oom_score_adj here (it failed with "can't get final child's PID"); candidates raise theirs to 1000

    def _container_oom_kills(self) -> int:
        if getattr(self, "_oom_file", None) is None:
            try:
                self.container.reload()
                pid = int(self.container.attrs.get("State", {}).get("Pid") or 0)
                self._oom_file = oom_control_file(pid) if pid else None
            except Exception:  # noqa: BLE001
                return 0
        return read_oom_kills(self._oom_file) if self._oom_file else 0

    def mark_memory(self) -> None:
        self._oom_seen = self._container_oom_kills()

    def _memory_killed(self, head: dict) -> bool:
        return self._container_oom_kills() > self._oom_seen

    def _write(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            n = os.write(self.req_fd, view)
            view = view[n:]

    def _read_fd(self) -> int:
        return self.resp_fd

    def alive(self) -> bool:
        if self.container is None or self._dead:
            return False
        return True

    def _check_container(self) -> bool:
        try:
            self.container.reload()
            running = self.container.status == "running"
        except Exception:  # noqa: BLE001
            running = False
        if not running:
            self._dead = True
        return running

    def _fill(self, n: int, deadline: float) -> None:
        with selectors.DefaultSelector() as sel:
            sel.register(self.resp_fd, selectors.EVENT_READ)
            while len(self._buf) < n:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError
                if not sel.select(min(left, 1.0)):
                    if not self._check_container():
                        raise WorkerDied(self._death_reason())
                    continue
                self._buf += os.read(self.resp_fd, 1 << 20)

    def _death_reason(self) -> str:
        try:
            state = self.container.attrs.get("State", {})
            if state.get("OOMKilled"):
                return "OOMKilled"
            logs = self.container.logs(tail=3).decode(errors="replace").strip()
            return f"the sandbox container exited ({state.get('ExitCode')}): {logs[-200:]}"
        except Exception:  # noqa: BLE001
            return "the sandbox container died"

    def _kill(self) -> None:
        for fd in (self.req_fd, self.resp_fd):
            if fd >= 0:
                try:
                    os.close(fd)
                except OSError:
                    pass
        self.req_fd = self.resp_fd = -1
        if self.container is not None:
            try:
                self.container.remove(force=True)  # kill + remove, by id
            except Exception:  # noqa: BLE001
                pass
            self.container = None


def remove_leftover_containers() -> int:
    """Remove containers this machine's discover processes left behind (e.g. after kill -9)."""
    try:
        client = _client(10)
        n = 0
        for c in client.containers.list(all=True, filters={"label": LABEL}):
            try:
                pid = int(c.labels.get(LABEL, "x"))
            except ValueError:
                continue
            try:
                os.kill(pid, 0)
                continue  # its discover is alive
            except ProcessLookupError:
                pass
            except PermissionError:
                continue
            try:
                c.remove(force=True)
                n += 1
            except Exception:  # noqa: BLE001
                pass
        return n
    except Exception:  # noqa: BLE001
        return 0

