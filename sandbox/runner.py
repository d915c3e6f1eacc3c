"""In-sandbox runner for discover: loads a candidate, calls the problem's evaluate(), returns one JSON result.

Runs INSIDE the sandbox (bwrap / Docker container / plain process). Standard library only; whatever the
problem's evaluate.py imports (e.g. numpy) must be importable here.

Modes
  runner.py serve [--uid UID] [--reap] [--preload numpy] [--in FIFO --out FIFO]
      A fork server: reads one JSON request per line, forks one child per evaluation (own process group,
      rlimits), enforces the wall-clock timeout by killing the child's whole group, answers one JSON line.
      It never imports a problem's evaluator itself (so no answers ever live in the server's memory) and
      never touches CUDA.
  runner.py once
      One request on stdin, one result on stdout (the fresh-process path; used for comparisons).

Request: {"code", "problem_dir", "instance_set", "timeout_s", "memory_mb", "scratch"?}
Result:  {"status", "score", "instances", "error", "traceback", "stdout_tail", "stderr_tail", "duration_s"}
"""

from __future__ import annotations

import json
import math
import os
import resource
import selectors
import signal
import sys
import time

TAIL_BYTES = 4096
MAX_RESULT_BYTES = 64 << 20
NPROC_LIMIT = 256
FSIZE_LIMIT = 256 << 20
CANDIDATE_FILE = "candidate.py"


# ----------------------------------------------------------------------------------------------- child side

class ForbiddenAction(PermissionError):
    """Raised by the audit hook when the candidate tries something the sandbox forbids."""


def _install_audit_hook(writable: list, attempts: list) -> None:
    allowed_write = tuple(os.path.join(p, "") for p in writable if p) + ("/dev/null",)

    def hook(event, args):
        if event in ("socket.connect", "socket.bind", "socket.sendto", "socket.sendmsg"):
            addr = args[1] if len(args) > 1 else None
            what = f"network access ({event.split('.')[1]} {addr!r}) is not allowed in the sandbox"
            attempts.append(what)
            raise ForbiddenAction(what)
        if event == "open" and len(args) >= 3:
            path, mode, flags = args[0], args[1], args[2]
            writing = (mode is not None and any(c in str(mode) for c in "wax+")) or (
                isinstance(flags, int) and flags & (os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_APPEND))
            if writing and isinstance(path, (str, bytes)):
                p = os.path.abspath(os.fsdecode(path))
                if not (p + "/").startswith(allowed_write) and p != "/dev/null":
                    what = f"writing {p} is not allowed (only the scratch dir is writable)"
                    attempts.append(what)
                    raise ForbiddenAction(what)

    sys.addaudithook(hook)


def _trim_traceback(exc: BaseException) -> str:
    import traceback

    frames = traceback.extract_tb(exc.__traceback__)
    mine = [f for f in frames if f.filename == CANDIDATE_FILE]
    if not mine:  # raised in the evaluator (e.g. InvalidSolution): the innermost evaluator frames give context
        mine = [f for f in frames if not f.filename.endswith("runner.py")][-3:]
    lines = ["Traceback (most recent call last):"]
    lines += "".join(traceback.format_list(mine)).rstrip("\n").split("\n")
    lines += "".join(traceback.format_exception_only(type(exc), exc)).rstrip("\n").split("\n")
    if len(lines) > 30:
        lines = lines[:3] + ["  ..."] + lines[-26:]
    return "\n".join(lines)


def _one_line(exc: BaseException) -> str:
    msg = str(exc).strip().split("\n")[0]
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
    if isinstance(exc, MemoryError):
        return "memory", "MemoryError: out of memory (memory limit reached)"
    if isinstance(exc, SystemExit):
        code = exc.code if isinstance(exc.code, int) or exc.code is None else 1
        return "crash", f"candidate exited with code {code or 0} (sys.exit)"
    if isinstance(exc, KeyboardInterrupt):
        return "crash", "candidate raised KeyboardInterrupt"
    return "error", _one_line(exc)


def _json_default(o):
    try:
        return float(o) if getattr(o, "ndim", 0) == 0 and not isinstance(o, (str, bytes)) else o.tolist()
    except Exception:
        return repr(o)


def evaluate_request(req: dict) -> dict:
    """Run one evaluation in this process. Returns the result dict (without tails/duration)."""
    import importlib.util
    import linecache
    import types

    sys.dont_write_bytecode = True
    attempts: list = []
    problem_dir = req["problem_dir"]
    res = {"status": "ok", "score": None, "instances": {}, "error": None, "traceback": None}
    # 1. the problem's evaluator (not the candidate's fault if this fails)
    try:
        if problem_dir not in sys.path:
            sys.path.insert(0, problem_dir)
        spec = importlib.util.spec_from_file_location("problem_evaluate", os.path.join(problem_dir, "evaluate.py"))
        ev = importlib.util.module_from_spec(spec)
        sys.modules["problem_evaluate"] = ev
        spec.loader.exec_module(ev)
        evaluate = ev.evaluate
    except BaseException as e:  # noqa: BLE001
        res.update(status="error", error=f"problem evaluator failed to load: {_one_line(e)}",
                   traceback=_trim_traceback(e))
        return res
    _install_audit_hook(req.get("writable") or [req.get("scratch") or os.getcwd()], attempts)
    # 2. the candidate, then the evaluation
    try:
        code = req["code"]
        linecache.cache[CANDIDATE_FILE] = (len(code), None, code.splitlines(True), CANDIDATE_FILE)
        mod = types.ModuleType("candidate")
        mod.__file__ = CANDIDATE_FILE
        sys.modules["candidate"] = mod
        exec(compile(code, CANDIDATE_FILE, "exec"), mod.__dict__)
        out = evaluate(mod, req["instance_set"], os.path.join(problem_dir, "data"))
    except BaseException as e:  # noqa: BLE001
        status, error = _classify(e, attempts)
        res.update(status=status, error=error, traceback=_trim_traceback(e))
        return res
    # 3. the evaluator's answer
    try:
        if not isinstance(out, dict) or not isinstance(out.get("instances"), dict):
            raise TypeError(f"evaluate() must return a dict with an 'instances' dict, got {type(out).__name__}")
        instances = {}
        for k, v in out["instances"].items():
            m = dict(v) if isinstance(v, dict) else {"score": v}
            m = json.loads(json.dumps(m, default=_json_default))
            s = m.get("score")
            if s is not None and not isinstance(s, (int, float)):
                raise TypeError(f"instance {k!r}: score must be a number, got {type(s).__name__}")
            instances[str(k)] = m
        score = out.get("score")
        if score is None:
            vals = [m["score"] for m in instances.values() if m.get("score") is not None]
            score = sum(vals) / len(vals) if vals else None
        score = float(score) if score is not None else None
        if score is not None and not math.isfinite(score):
            res.update(status="invalid", error=f"score is not finite ({score})", instances=instances)
            return res
        res.update(instances=instances, score=score)
    except BaseException as e:  # noqa: BLE001
        res.update(status="error", error=f"problem evaluator returned a malformed result: {_one_line(e)}")
    return res


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
        data = bytes(self.buf[-self.cap:])
        s = data.decode("utf-8", "replace")
        if self.total > self.cap:
            s = f"[... {self.total - self.cap} earlier bytes dropped ...]\n" + s
        return s


def _vm_size() -> int:
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmSize:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def _signame(sig: int) -> str:
    try:
        return signal.Signals(sig).name
    except ValueError:
        return f"signal {sig}"


def _child(req: dict, out_w: int, err_w: int, res_w: int, base_vm: int) -> None:
    try:
        os.setpgid(0, 0)
        os.dup2(out_w, 1)
        os.dup2(err_w, 2)
        devnull = os.open(os.devnull, os.O_RDONLY)
        os.dup2(devnull, 0)
        mem = int(req.get("memory_mb") or 1024) << 20
        resource.setrlimit(resource.RLIMIT_AS, (base_vm + mem, base_vm + mem))
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
        resource.setrlimit(resource.RLIMIT_FSIZE, (FSIZE_LIMIT, FSIZE_LIMIT))
        if os.getuid() != 0:  # root ignores RLIMIT_NPROC anyway
            resource.setrlimit(resource.RLIMIT_NPROC, (NPROC_LIMIT, NPROC_LIMIT))
        if req.get("scratch"):
            os.chdir(req["scratch"])
            os.environ["TMPDIR"] = req["scratch"]  # tempfile & co. write into scratch, the one writable place
        sys.stdout = open(1, "w", closefd=False, errors="replace")
        sys.stderr = open(2, "w", closefd=False, errors="replace")
        sys.stdin = open(0, "r", closefd=False)
        res = evaluate_request(req)
    except BaseException as e:  # noqa: BLE001
        res = {"status": "error", "error": f"runner: {_one_line(e)}", "score": None, "instances": {}, "traceback": None}
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except BaseException:  # noqa: BLE001
        pass
    try:
        data = json.dumps(res, default=_json_default).encode()
        view = memoryview(data)
        while view:
            n = os.write(res_w, view)
            view = view[n:]
    finally:
        os._exit(0)


def _reap_others(reap: bool, cgroup: str | None = None) -> None:
    """Kill every process of ours that is not this server or its ancestors (escaped grandchildren, setsid...).
    --reap: inside a PID namespace, kill everything with our uid; --cgroup: kill every other member of our
    pids cgroup. The server is a child subreaper, so orphans come back to it and are reaped here."""
    for _ in range(2000):
        while True:
            try:
                if os.waitpid(-1, os.WNOHANG)[0] == 0:
                    break
            except ChildProcessError:
                break
        if not (reap or cgroup):
            return
        me, uid = os.getpid(), os.getuid()
        keep = {me, 1, os.getppid()}
        found = False
        if cgroup:
            try:
                with open(os.path.join(cgroup, "cgroup.procs")) as f:
                    pids = [int(x) for x in f.read().split()]
            except OSError:
                pids = []
            for pid in pids:
                if pid not in keep:
                    found = True
                    try:
                        os.kill(pid, signal.SIGKILL)
                    except OSError:
                        pass
        else:
            for name in os.listdir("/proc"):
                if not name.isdigit() or int(name) in keep:
                    continue
                try:
                    with open(f"/proc/{name}/status") as f:
                        st = f.read()
                except OSError:
                    continue
                fields = dict(line.split(":", 1) for line in st.splitlines() if ":" in line)
                if int(fields.get("Uid", "-1").split()[0]) != uid or fields.get("State", "").strip().startswith("Z"):
                    continue
                try:
                    os.kill(int(name), signal.SIGKILL)
                    found = True
                except OSError:
                    pass
        if not found:
            return
        time.sleep(0.002)


def run_forked(req: dict, reap: bool = False, cgroup: str | None = None) -> dict:
    timeout = float(req.get("timeout_s") or 60)
    base_vm = _vm_size()
    out_r, out_w = os.pipe()
    err_r, err_w = os.pipe()
    res_r, res_w = os.pipe()
    t0 = time.perf_counter()
    pid = os.fork()
    if pid == 0:
        for fd in (out_r, err_r, res_r):
            os.close(fd)
        _child(req, out_w, err_w, res_w, base_vm)
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
    timed_out, exited, status = False, False, None

    def pump(key) -> None:
        try:
            data = os.read(key.fd, 1 << 16)
        except BlockingIOError:
            return
        if not data:
            sel.unregister(key.fd)
            os.close(key.fd)
            return
        if isinstance(key.data, _Tail):
            key.data.add(data)
        elif len(key.data) < MAX_RESULT_BYTES:
            key.data.extend(data)

    while not exited:
        left = deadline - time.perf_counter()
        if left <= 0:
            timed_out = True
            break
        for key, _ in sel.select(left):
            if key.data == "exit":
                exited = True
            else:
                pump(key)
    duration = time.perf_counter() - t0
    try:
        os.killpg(pid, signal.SIGKILL)
    except OSError:
        pass
    _, status = os.waitpid(pid, 0)
    sel.unregister(pidfd)
    os.close(pidfd)
    _reap_others(reap, cgroup)
    # drain what is left in the pipes (writers are dead now, unless something escaped: bounded wait)
    drain_deadline = time.perf_counter() + 1.0
    while len(sel.get_map()) and time.perf_counter() < drain_deadline:
        for key, _ in sel.select(0.05):
            pump(key)
    for key in list(sel.get_map().values()):
        sel.unregister(key.fd)
        os.close(key.fd)
    sel.close()

    res = None
    if timed_out:
        res = {"status": "timeout", "error": f"timed out after {timeout:g} s"}
    elif result:
        try:
            res = json.loads(result)
        except ValueError:
            res = None
    if res is None:
        if os.WIFSIGNALED(status):
            sig = os.WTERMSIG(status)
            res = {"status": "crash", "error": f"killed by {_signame(sig)}"}
        else:
            code = os.WEXITSTATUS(status)
            res = {"status": "crash", "error": f"candidate exited with code {code}"}
    base = {"score": None, "instances": {}, "error": None, "traceback": None}
    base.update(res)
    base.update(stdout_tail=out.text(), stderr_tail=err.text(), duration_s=duration)
    return base


def _drop_privileges(uid: int) -> None:
    os.setgroups([])
    os.setgid(uid)
    os.setuid(uid)


def serve(argv: list) -> None:
    args = {"--uid": None, "--preload": "numpy", "--in": None, "--out": None, "--cgroup": None}
    reap = "--reap" in argv
    for i, a in enumerate(argv):
        if a in args and i + 1 < len(argv):
            args[a] = argv[i + 1]
    if args["--uid"] and os.getuid() == 0:
        _drop_privileges(int(args["--uid"]))
    try:  # orphans of our candidates are re-parented to us (PR_SET_CHILD_SUBREAPER), so we can reap them
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(36, 1, 0, 0, 0)
    except Exception:  # noqa: BLE001
        pass
    for mod in filter(None, (args["--preload"] or "").split(",")):
        try:
            __import__(mod)
        except ImportError:
            pass
    rin = open(args["--in"], "rb", buffering=0) if args["--in"] else os.fdopen(os.dup(0), "rb", buffering=0)
    wfd = os.open(args["--out"], os.O_WRONLY) if args["--out"] else os.dup(1)
    # the server's own stdout/stderr must never carry candidate output into the protocol
    nul = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1):
        os.dup2(nul, fd)
    wout = os.fdopen(wfd, "wb", buffering=0)
    wout.write(b'{"ready": true, "pid": %d, "uid": %d}\n' % (os.getpid(), os.getuid()))
    buf = b""
    while True:
        chunk = rin.read(1 << 20)
        if not chunk:
            return
        buf += chunk
        while b"\n" in buf:
            line, buf = buf.split(b"\n", 1)
            if not line.strip():
                continue
            req = None
            try:
                req = json.loads(line)
                res = run_forked(req, reap=reap, cgroup=args["--cgroup"])
            except Exception as e:  # noqa: BLE001
                res = {"status": "error", "error": f"runner: {_one_line(e)}", "score": None, "instances": {},
                       "traceback": None, "stdout_tail": "", "stderr_tail": "", "duration_s": 0.0}
            res["id"] = req.get("id") if isinstance(req, dict) else None
            wout.write(json.dumps(res, default=_json_default).encode() + b"\n")


def once() -> None:
    req = json.loads(sys.stdin.read())
    res = run_forked(req)
    sys.stdout.write(json.dumps(res, default=_json_default) + "\n")


if __name__ == "__main__":
    mode = sys.argv[1] if len(sys.argv) > 1 else "once"
    if mode == "serve":
        serve(sys.argv[2:])
    else:
        once()
