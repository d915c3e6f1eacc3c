"""In-sandbox fork server for discover: runs the CANDIDATE SIDE of an evaluation and nothing else.

Runs inside the sandbox (bwrap / Docker container / plain process); standard library + numpy only, plus wire.py
(copied next to this file). It never sees hidden data and never scores: it receives the candidate's code, the
problem's candidate-side sources and the public instances of one set, runs `run(candidate, data)` per instance in a
forked child, and hands the child's encoded outputs back as opaque bytes. The trusted judge, in another process the
candidate cannot reach, decodes and scores them.

    runner.py serve [--uid UID] [--reap] [--in FIFO --out FIFO] [--isolate-root] [--hide DIR ...]

Protocol (host <-> server, both directions): frames  b"DSR1" + u32 header length + u64 payload length + header
JSON + payload. Request header: {id, code, files, instance_set, timeout_s, memory_mb, output_limit}; payload = the
wire-encoded public instances. Response header: {id, status, error, traceback, stdout_tail, stderr_tail,
duration_s, memory_peak_mb}; payload = the child's wire-encoded outputs (untrusted).

The child holds nothing it could use to speak for the server: its fds are stdin=/dev/null, stdout/stderr/result
pipes to the server, and nothing else. It drops to a uid of its own (when the server is root), sets
no_new_privs and a seccomp filter that refuses ptrace & co, and raises its own OOM score so a memory kill picks it.
The server is non-dumpable (not traceable, /proc/PID/mem unreadable by the child).
"""

from __future__ import annotations

import json
import os
import resource
import selectors
import shutil
import signal
import struct
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import wire  # noqa: E402  (copied next to the runner)

FRAME_MAGIC = b"DSR1"
FRAME_HEAD = struct.Struct("<4sIQ")
TAIL_BYTES = 4096
PRINT_LIMIT = 16 << 20      # stdout + stderr bytes before the child is stopped (a flood is an output limit)
NPROC_LIMIT = 256
FSIZE_LIMIT = 4 << 30       # per file; scratch tmpfs size and the memory cap are the real limits (a memfd is a file)
CANDIDATE_FILE = "candidate.py"
MEMORY_POLL_S = 0.1  # supervisor only (no memory cgroup): one /proc scan per poll


# ----------------------------------------------------------------------------------------------- framing

def write_frame(fd: int, header: dict, payload: bytes = b"") -> None:
    head = json.dumps(header, separators=(",", ":")).encode()
    data = FRAME_HEAD.pack(FRAME_MAGIC, len(head), len(payload)) + head + payload
    view = memoryview(data)
    while view:
        n = os.write(fd, view)
        view = view[n:]


def read_exact(fd: int, n: int) -> bytes:
    chunks, left = [], n
    while left:
        b = os.read(fd, min(left, 1 << 20))
        if not b:
            raise EOFError
        chunks.append(b)
        left -= len(b)
    return b"".join(chunks)


def read_frame(fd: int) -> tuple[dict, bytes]:
    magic, hlen, plen = FRAME_HEAD.unpack(read_exact(fd, FRAME_HEAD.size))
    if magic != FRAME_MAGIC or hlen > 64 << 20 or plen > 4 << 30:
        raise ValueError("bad frame")
    return json.loads(read_exact(fd, hlen)), read_exact(fd, plen)


# ----------------------------------------------------------------------------------------------- child side

class ForbiddenAction(PermissionError):
    """Raised by the audit hook when the candidate tries something the sandbox forbids."""


def _install_audit_hook(writable: str, attempts: list) -> None:
    allowed = (os.path.join(writable, ""), "/dev/null")

    def hook(event, args):
        if event in ("socket.connect", "socket.bind", "socket.sendto", "socket.sendmsg"):
            what = f"network access ({event.split('.')[1]}) is not allowed in the sandbox"
            attempts.append(what)
            raise ForbiddenAction(what)
        if event == "open" and len(args) >= 3:
            path, mode, flags = args[0], args[1], args[2]
            writing = (mode is not None and any(c in str(mode) for c in "wax+")) or (
                isinstance(flags, int) and flags & (os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_APPEND))
            if writing and isinstance(path, (str, bytes)):
                p = os.path.abspath(os.fsdecode(path))
                if not (p + "/").startswith(allowed[0]) and p != "/dev/null":
                    what = f"writing {p} is not allowed (only the scratch dir is writable)"
                    attempts.append(what)
                    raise ForbiddenAction(what)

    sys.addaudithook(hook)


# Syscalls no candidate needs and that reach outside its own process: tracing, reading other processes'
# memory, kernel keyrings, namespaces and mounts, BPF, perf, io_uring, module loading.
_DENIED_SYSCALLS = {
    "x86_64": (0xC000003E, [101, 310, 311, 312, 298, 321, 323, 250, 248, 249, 165, 166, 272, 308, 155, 161, 175,
                            313, 246, 169, 167, 425, 426, 427]),
    "aarch64": (0xC00000B7, [117, 270, 271, 272, 241, 280, 282, 219, 217, 218, 40, 39, 97, 268, 41, 51, 105, 273,
                             104, 142, 224, 425, 426, 427]),
}


def install_seccomp() -> bool:
    """no_new_privs + a BPF filter returning EPERM for _DENIED_SYSCALLS. False where unsupported."""
    import ctypes
    import errno
    import platform

    spec = _DENIED_SYSCALLS.get(platform.machine())
    if spec is None:
        return False
    arch, nrs = spec
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(38, 1, 0, 0, 0) != 0:  # PR_SET_NO_NEW_PRIVS
        return False
    LD, JEQ, JGE, RET = 0x20, 0x15, 0x35, 0x06
    ALLOW, KILL, DENY = 0x7FFF0000, 0x80000000, 0x00050000 | errno.EPERM
    prog = [(LD, 0, 0, 4), (JEQ, 1, 0, arch), (RET, 0, 0, KILL), (LD, 0, 0, 0)]
    if arch == 0xC000003E:
        prog.append((JGE, len(nrs) + 1, 0, 0x40000000))  # x32 ABI numbers: deny
    for i, nr in enumerate(nrs):
        prog.append((JEQ, len(nrs) - i, 0, nr))
    prog += [(RET, 0, 0, ALLOW), (RET, 0, 0, DENY)]

    class Filter(ctypes.Structure):
        _fields_ = [("code", ctypes.c_ushort), ("jt", ctypes.c_ubyte), ("jf", ctypes.c_ubyte), ("k", ctypes.c_uint)]

    class Prog(ctypes.Structure):
        _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.POINTER(Filter))]

    arr = (Filter * len(prog))(*[Filter(*f) for f in prog])
    fprog = Prog(len(prog), arr)
    return libc.prctl(22, 2, ctypes.byref(fprog), 0, 0) == 0  # PR_SET_SECCOMP, SECCOMP_MODE_FILTER


def _trim_traceback(exc: BaseException) -> str:
    import traceback

    frames = traceback.extract_tb(exc.__traceback__)
    mine = [f for f in frames if f.filename == CANDIDATE_FILE]
    if not mine:  # raised in the problem's run() (e.g. InvalidSolution): its innermost frames give context
        mine = [f for f in frames if not f.filename.endswith(("runner.py", "wire.py"))][-3:]
    lines = ["Traceback (most recent call last):"]
    lines += "".join(traceback.format_list(mine)).rstrip("\n").split("\n")
    lines += "".join(traceback.format_exception_only(type(exc), exc)).rstrip("\n").split("\n")
    if len(lines) > 30:
        lines = lines[:3] + ["  ..."] + lines[-26:]
    return "\n".join(lines)[:8000]


def _one_line(exc: BaseException) -> str:
    try:
        msg = str(exc).strip().split("\n")[0]
    except Exception:  # noqa: BLE001 - a hostile __str__
        msg = "(unprintable)"
    text = f"{type(exc).__name__}: {msg}" if msg else type(exc).__name__
    return text[:300]


def _classify(exc: BaseException, attempts: list) -> tuple[str, str]:
    names = {c.__name__ for c in type(exc).__mro__}
    if "InvalidSolution" in names:
        return "invalid", _one_line(exc)
    if isinstance(exc, ForbiddenAction):
        return "forbidden", f"forbidden: {exc}"
    if isinstance(exc, OSError) and attempts:
        return "forbidden", f"forbidden: {attempts[-1]} ({_one_line(exc)})"
    if isinstance(exc, MemoryError) or (isinstance(exc, OSError) and exc.errno == 12):
        return "memory", "out of memory (memory limit reached)"
    if isinstance(exc, SystemExit):
        return "crash", "candidate called sys.exit()"
    if isinstance(exc, KeyboardInterrupt):
        return "crash", "candidate raised KeyboardInterrupt"
    return "error", _one_line(exc)


class _SourceFinder:
    """Imports the problem's candidate-side modules from the sources sent with the request (nothing of the
    problem folder is mounted in the sandbox)."""

    def __init__(self, files: dict) -> None:
        self.sources = {name[:-3].replace("/", "."): (name, src) for name, src in files.items() if name.endswith(".py")}

    def find_spec(self, fullname, path=None, target=None):
        import importlib.util

        if fullname in self.sources:
            return importlib.util.spec_from_loader(fullname, self, origin=self.sources[fullname][0])
        return None

    def create_module(self, spec):
        return None

    def exec_module(self, module):
        name, src = self.sources[module.__name__]
        module.__file__ = name
        exec(compile(src, name, "exec"), module.__dict__)


def run_candidate_side(req: dict, payload: bytes, scratch: str) -> dict:
    """In the child: import the problem's run(), exec the candidate, run every instance. -> result dict."""
    import linecache
    import types

    sys.dont_write_bytecode = True
    attempts: list = []
    files = req.get("files") or {}
    sys.meta_path.insert(0, _SourceFinder(files))
    try:
        import evaluate as problem_side  # the problem's candidate-side module, from the request's sources
        run = problem_side.run
        instances = wire.decode(payload)
        if not isinstance(instances, dict):
            raise TypeError("public instances must be a dict")
    except BaseException as e:  # noqa: BLE001 - the problem's fault: reported as such
        return {"status": "error", "problem_fault": True,
                "error": f"the problem's candidate side failed to load: {_one_line(e)}", "traceback": _trim_traceback(e)}
    _install_audit_hook(scratch, attempts)
    try:
        code = req["code"]
        linecache.cache[CANDIDATE_FILE] = (len(code), None, code.splitlines(True), CANDIDATE_FILE)
        mod = types.ModuleType("candidate")
        mod.__file__ = CANDIDATE_FILE
        sys.modules["candidate"] = mod
        exec(compile(code, CANDIDATE_FILE, "exec"), mod.__dict__)
        outputs = {}
        for iid, data in instances.items():
            outputs[iid] = run(mod, data)
    except BaseException as e:  # noqa: BLE001
        status, error = _classify(e, attempts)
        return {"status": status, "error": error, "traceback": _trim_traceback(e)}
    try:
        blob = wire.encode(outputs, max_bytes=int(req.get("output_limit") or (256 << 20)))
    except BaseException as e:  # noqa: BLE001 - a candidate that returned objects, not plain data
        return {"status": "invalid", "error": f"the output is not plain data: {_one_line(e)}"}
    return {"status": "ok", "blob": blob}


def _set_oom_score(value: int) -> None:
    try:
        with open("/proc/self/oom_score_adj", "w") as f:
            f.write(str(value))
    except OSError:
        pass


def _child(req: dict, payload: bytes, out_w: int, err_w: int, res_w: int, scratch: str, uid: int | None,
           rlimit_as: int | None) -> None:
    try:
        os.setpgid(0, 0)
        devnull = os.open(os.devnull, os.O_RDONLY)
        os.dup2(devnull, 0)
        os.dup2(out_w, 1)
        os.dup2(err_w, 2)
        os.dup2(res_w, 3)
        os.closerange(4, 1 << 16)  # nothing of the server's (its protocol channel) stays reachable
        import ctypes

        ctypes.CDLL(None).prctl(1, signal.SIGKILL, 0, 0, 0)  # PR_SET_PDEATHSIG: die with the server
        _set_oom_score(1000)  # a memory kill picks the candidate, never the server
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
        resource.setrlimit(resource.RLIMIT_FSIZE, (FSIZE_LIMIT, FSIZE_LIMIT))
        resource.setrlimit(resource.RLIMIT_NPROC, (NPROC_LIMIT, NPROC_LIMIT))
        if rlimit_as:
            resource.setrlimit(resource.RLIMIT_AS, (rlimit_as, rlimit_as))
        os.chdir(scratch)
        if uid is not None and os.getuid() == 0:
            os.setgroups([])
            os.setgid(uid)
            os.setuid(uid)
        install_seccomp()
        os.environ["TMPDIR"] = scratch
        os.environ["HOME"] = scratch
        sys.stdout = open(1, "w", closefd=False, errors="replace")
        sys.stderr = open(2, "w", closefd=False, errors="replace")
        sys.stdin = open(0, "r", closefd=False)
        res = run_candidate_side(req, payload, scratch)
    except BaseException as e:  # noqa: BLE001
        res = {"status": "error", "error": f"runner: {_one_line(e)}"}
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except BaseException:  # noqa: BLE001
        pass
    try:
        blob = res.pop("blob", b"")
        head = json.dumps(res).encode()
        data = struct.pack("<IQ", len(head), len(blob)) + head + blob
        view = memoryview(data)
        while view:
            n = os.write(3, view)
            view = view[n:]
    finally:
        os._exit(0)


# ---------------------------------------------------------------------------------------------- server side

class _Tail:
    def __init__(self, cap: int = TAIL_BYTES):
        self.cap, self.buf, self.total = cap, bytearray(), 0

    def add(self, data: bytes) -> None:
        self.total += len(data)
        self.buf += data
        if len(self.buf) > 2 * self.cap:
            del self.buf[: len(self.buf) - self.cap]

    def text(self) -> str:
        s = bytes(self.buf[-self.cap:]).decode("utf-8", "replace")
        if self.total > self.cap:
            s = f"[... {self.total - self.cap} earlier bytes dropped ...]\n" + s
        return s


def _signame(sig: int) -> str:
    try:
        return signal.Signals(sig).name
    except ValueError:
        return f"signal {sig}"


def _procs_of(uid: int | None, exclude: set) -> list[int]:
    out = []
    for name in os.listdir("/proc"):
        if not name.isdigit() or int(name) in exclude:
            continue
        try:
            st = os.stat(f"/proc/{name}")
            with open(f"/proc/{name}/stat") as f:
                state = f.read().rsplit(")", 1)[1].split()[0]
        except (OSError, IndexError):
            continue
        if (uid is None or st.st_uid == uid) and state != "Z":
            out.append(int(name))
    return out


def _vm_size() -> int:
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmSize:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def _tree_memory(pids: list[int]) -> int:
    """Resident + shared memory of `pids`, counting each memfd/shm file once (a memfd hog holds no RSS until mapped)."""
    total, seen = 0, set()
    for pid in pids:
        try:
            with open(f"/proc/{pid}/statm") as f:
                total += int(f.read().split()[1]) * 4096
            for fd in os.listdir(f"/proc/{pid}/fd"):
                target = os.readlink(f"/proc/{pid}/fd/{fd}")
                if target.startswith(("/memfd:", "/dev/shm/")):
                    st = os.stat(f"/proc/{pid}/fd/{fd}")
                    if (st.st_dev, st.st_ino) not in seen:
                        seen.add((st.st_dev, st.st_ino))
                        total += st.st_blocks * 512
        except OSError:
            continue
    return total


class Server:
    def __init__(self, uid: int | None, reap: bool, scratch_root: str, supervise_memory: bool) -> None:
        self.uid = uid if (uid is not None and os.getuid() == 0) else None
        self.reap = reap
        self.scratch_root = scratch_root
        self.supervise_memory = supervise_memory

    def _candidate_pids(self, pid: int) -> list[int]:
        """The candidate's process tree: its uid (root), everything but us in our PID namespace (bwrap, docker), or
        its process group (a plain process, where setsid escapes the count but not the timeout's sweep)."""
        me = {os.getpid(), 1, os.getppid()}
        if self.uid is not None or self.reap:
            return _procs_of(self.uid, me)
        out = [pid]
        for name in os.listdir("/proc"):
            if name.isdigit() and int(name) != pid:
                try:
                    with open(f"/proc/{name}/stat") as f:
                        if int(f.read().rsplit(")", 1)[1].split()[2]) == pid:
                            out.append(int(name))
                except (OSError, IndexError, ValueError):
                    pass
        return out

    def _kill_leftovers(self, pgid: int) -> None:
        try:
            os.killpg(pgid, signal.SIGKILL)
        except OSError:
            pass
        me = {os.getpid(), 1, os.getppid()}
        for _ in range(500):
            while True:  # reap our own children (we are a child subreaper)
                try:
                    if os.waitpid(-1, os.WNOHANG)[0] == 0:
                        break
                except ChildProcessError:
                    break
            if self.uid is None and not self.reap:
                return
            pids = _procs_of(self.uid, me)
            if not pids:
                return
            for pid in pids:
                try:
                    os.kill(pid, signal.SIGKILL)
                except OSError:
                    pass
            time.sleep(0.002)

    def handle(self, req: dict, payload: bytes) -> tuple[dict, bytes]:
        timeout = float(req.get("timeout_s") or 60)
        memory = int(req.get("memory_mb") or 1024) << 20
        output_limit = int(req.get("output_limit") or (256 << 20))
        scratch = os.path.join(self.scratch_root, f"e{int(req.get('id') or 0)}")
        shutil.rmtree(scratch, ignore_errors=True)
        os.mkdir(scratch, 0o700)
        if self.uid is not None:
            os.chown(scratch, self.uid, self.uid)
        out_r, out_w = os.pipe()
        err_r, err_w = os.pipe()
        res_r, res_w = os.pipe()
        t0 = time.perf_counter()
        # Without a memory cgroup around us, RLIMIT_AS stops one huge allocation at once (the supervisor below
        # catches a tree of processes or a memfd); with one, the cgroup is the cap and address space is free.
        rlimit_as = (_vm_size() + memory) if self.supervise_memory else None
        pid = os.fork()
        if pid == 0:
            for fd in (out_r, err_r, res_r):
                os.close(fd)
            _child(req, payload, out_w, err_w, res_w, scratch, self.uid, rlimit_as)
        for fd in (out_w, err_w, res_w):
            os.close(fd)
        try:
            os.setpgid(pid, pid)
        except OSError:
            pass
        out, err, result = _Tail(), _Tail(), bytearray()
        sel = selectors.DefaultSelector()
        for fd, tgt in ((out_r, out), (err_r, err), (res_r, result)):
            os.set_blocking(fd, False)
            sel.register(fd, selectors.EVENT_READ, tgt)
        pidfd = os.pidfd_open(pid)
        sel.register(pidfd, selectors.EVENT_READ, "exit")
        deadline = t0 + timeout
        verdict: tuple[str, str] | None = None
        exited = False
        peak = 0
        next_poll = t0
        while not exited and verdict is None:
            now = time.perf_counter()
            if now >= deadline:
                verdict = ("timeout", f"timed out after {timeout:g} s")
                break
            if self.supervise_memory and now >= next_poll:
                next_poll = now + MEMORY_POLL_S
                used = _tree_memory(self._candidate_pids(pid))
                peak = max(peak, used)
                if used > memory:
                    verdict = ("memory", f"used {used >> 20} MB, over the memory limit of {memory >> 20} MB")
                    break
            wait = min(deadline - now, MEMORY_POLL_S if self.supervise_memory else deadline - now)
            for key, _ in sel.select(max(0.0, wait)):
                if key.data == "exit":
                    exited = True
                    continue
                try:
                    data = os.read(key.fd, 1 << 16)
                except BlockingIOError:
                    continue
                if not data:
                    sel.unregister(key.fd)
                    os.close(key.fd)
                    continue
                if isinstance(key.data, _Tail):
                    key.data.add(data)
                    if out.total + err.total > PRINT_LIMIT:
                        verdict = ("output_limit", f"printed more than {PRINT_LIMIT >> 20} MB (output limit)")
                else:
                    key.data.extend(data)
                    if len(key.data) > output_limit + (1 << 20):
                        verdict = ("output_limit", f"returned more than {output_limit >> 20} MB (output limit)")
        duration = time.perf_counter() - t0
        try:
            os.killpg(pid, signal.SIGKILL)
        except OSError:
            pass
        try:
            _, status = os.waitpid(pid, 0)  # before the sweep, which reaps whatever is left
        except ChildProcessError:
            status = 0
        self._kill_leftovers(pid)
        sel.unregister(pidfd)
        os.close(pidfd)
        end = time.perf_counter() + 0.5
        while len(sel.get_map()) and time.perf_counter() < end and verdict is None:
            for key, _ in sel.select(0.05):
                try:
                    data = os.read(key.fd, 1 << 16)
                except BlockingIOError:
                    continue
                if not data:
                    sel.unregister(key.fd)
                    os.close(key.fd)
                elif isinstance(key.data, _Tail):
                    key.data.add(data)
                elif len(key.data) <= output_limit + (1 << 20):
                    key.data.extend(data)
        for key in list(sel.get_map().values()):
            sel.unregister(key.fd)
            os.close(key.fd)
        sel.close()
        shutil.rmtree(scratch, ignore_errors=True)
        for tmp in ("/tmp", "/dev/shm"):  # what the candidate left in the shared temp dirs
            self._clean_owned(tmp)

        head: dict = {"status": "crash", "error": None, "traceback": None}
        blob = b""
        if verdict is not None:
            head.update(status=verdict[0], error=verdict[1])
        elif len(result) >= 12:
            hlen, blen = struct.unpack_from("<IQ", result, 0)
            try:
                if 12 + hlen + blen != len(result):
                    raise ValueError("length mismatch")
                child = json.loads(bytes(result[12:12 + hlen]))
                if not isinstance(child, dict) or not isinstance(child.get("status"), str):
                    raise ValueError("not a result")
                head.update({k: child.get(k) for k in ("status", "error", "traceback", "problem_fault")})
                blob = bytes(result[12 + hlen:])
            except (ValueError, struct.error):
                head.update(status="error", error="the candidate wrote garbage where its result goes")
        elif os.WIFSIGNALED(status):
            head["error"] = f"killed by {_signame(os.WTERMSIG(status))}"
        else:
            head["error"] = f"candidate exited with code {os.WEXITSTATUS(status)} before returning"
        for k in ("error", "traceback"):
            if head.get(k) is not None:
                head[k] = str(head[k])[:8000]
        head.update(stdout_tail=out.text(), stderr_tail=err.text(), duration_s=duration,
                    memory_peak_mb=round(peak / 2 ** 20, 1) if peak else None)
        return head, blob

    def _clean_owned(self, d: str) -> None:
        if self.uid is None:
            return
        try:
            names = os.listdir(d)
        except OSError:
            return
        for n in names:
            p = os.path.join(d, n)
            try:
                if os.lstat(p).st_uid == self.uid:
                    shutil.rmtree(p) if os.path.isdir(p) and not os.path.islink(p) else os.unlink(p)
            except OSError:
                pass


def _isolate_root(hide: list[str], keep: list[str]) -> None:
    """process backend started by root: a private mount, network and IPC namespace for the server and its
    children; private tmpfs over the temp dirs and over `hide` (problem folders, the run store). Directories
    others cannot enter (e.g. /root) are covered too, with only the `keep` paths (the Python install) bound back,
    read-only, so a candidate running as another uid can import the standard library."""
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    CLONE_NEWNS, CLONE_NEWNET, CLONE_NEWIPC = 0x00020000, 0x40000000, 0x08000000
    if libc.unshare(CLONE_NEWNS | CLONE_NEWNET | CLONE_NEWIPC) != 0:
        return
    MS_RDONLY, MS_REMOUNT, MS_BIND, MS_REC, MS_PRIVATE = 1, 32, 4096, 0x4000, 0x40000

    def mount(src, dst, fstype, flags, data) -> None:
        libc.mount(src.encode() if src else None, dst.encode(), fstype.encode() if fstype else None, flags,
                   data.encode() if data else None)

    mount("none", "/", None, MS_REC | MS_PRIVATE, None)
    # Decide on the real tree first: which directories others cannot enter must be covered (e.g. /root) so the
    # kept paths below them can be bound back; hold each kept path open (O_PATH) so it can be bound back even when
    # it lies under a directory covered below (a checkout under /tmp).
    keep = [p for p in keep if os.path.isdir(p)]
    cover: list[str] = []
    for p in keep:
        parts = p.strip("/").split("/")
        for n in range(1, len(parts)):
            anc = "/" + "/".join(parts[:n])
            if not os.stat(anc).st_mode & 0o001:
                if anc not in cover:
                    cover.append(anc)
                break
    held = [(p, os.open(p, os.O_PATH | os.O_DIRECTORY)) for p in keep]
    for d in ["/tmp", "/dev/shm", "/var/tmp"]:
        if os.path.isdir(d):
            mount("tmpfs", d, "tmpfs", 0, "size=256m,mode=1777")
    for d in hide:
        if os.path.isdir(d):
            mount("tmpfs", d, "tmpfs", 0, "size=1m,mode=0755")
    for anc in cover:
        if os.path.isdir(anc):
            mount("tmpfs", anc, "tmpfs", 0, "size=1m,mode=0755")
    for p, fd in held:
        os.makedirs(p, mode=0o755, exist_ok=True)
        mount(f"/proc/self/fd/{fd}", p, None, MS_BIND | MS_REC, None)
        mount(f"/proc/self/fd/{fd}", p, None, MS_BIND | MS_REMOUNT | MS_RDONLY, None)
        os.close(fd)


def serve(argv: list) -> None:
    args = {"--uid": None, "--in": None, "--out": None, "--scratch": None}
    hide = [argv[i + 1] for i, a in enumerate(argv) if a == "--hide" and i + 1 < len(argv)]
    keep = [argv[i + 1] for i, a in enumerate(argv) if a == "--keep" and i + 1 < len(argv)]
    for i, a in enumerate(argv):
        if a in args and i + 1 < len(argv):
            args[a] = argv[i + 1]
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    if "--isolate-root" in argv and os.getuid() == 0:
        _isolate_root(hide, keep)
    libc.prctl(4, 0, 0, 0, 0)   # PR_SET_DUMPABLE 0: nothing can ptrace us or read /proc/self/mem
    libc.prctl(36, 1, 0, 0, 0)  # PR_SET_CHILD_SUBREAPER: orphans of candidates come back to us
    import numpy  # noqa: F401  (pre-imported once: each candidate's fork starts warm)

    rfd = os.open(args["--in"], os.O_RDONLY) if args["--in"] else os.dup(0)
    wfd = os.open(args["--out"], os.O_WRONLY) if args["--out"] else os.dup(1)
    nul = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1):  # the server's own stdio must never carry anything into the protocol
        os.dup2(nul, fd)
    uid = int(args["--uid"]) if args["--uid"] else None
    scratch = args["--scratch"] or os.getcwd()
    os.makedirs(scratch, mode=0o755, exist_ok=True)  # under --isolate-root, inside the server's private /tmp
    server = Server(uid, "--reap" in argv, scratch, "--supervise-memory" in argv)
    write_frame(wfd, {"ready": True, "pid": os.getpid(), "uid": os.getuid(), "candidate_uid": server.uid,
                      "seccomp": "x86_64" in os.uname().machine or "aarch64" in os.uname().machine})
    while True:
        try:
            req, payload = read_frame(rfd)
        except EOFError:
            return
        try:
            head, blob = server.handle(req, payload)
        except Exception as e:  # noqa: BLE001
            head, blob = {"status": "crash", "error": f"runner: {_one_line(e)}"}, b""
        head["id"] = req.get("id")
        write_frame(wfd, head, blob)


if __name__ == "__main__":
    serve(sys.argv[2:] if len(sys.argv) > 1 and sys.argv[1] == "serve" else sys.argv[1:])
