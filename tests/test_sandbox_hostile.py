"""Hostile candidates, against every sandbox backend usable here (unusable ones skip with the reason), through the
real Evaluator: candidate side in the sandbox, score from the trusted judge.

Each test checks the right status, a readable error, nothing left behind, and that the next evaluation on the
same workers still gets its own, honest result.
"""

from __future__ import annotations

import asyncio
import os
import time
import uuid
from pathlib import Path

import pytest

from discover.evaluation import Evaluator
from discover.executors.local import LocalExecutor
from discover.problem import load_problem
from discover.sandbox import available_backends, open_sandbox

TOY = Path(__file__).parent / "fixtures" / "problems" / "toy"
GOOD = "def solve(x):\n    return 2 * x\n"
FAKE_KEY = "sk-planted-fake-key-0123456789"

os.environ["OPENAI_API_KEY"] = FAKE_KEY  # planted before any sandbox starts: it must stay invisible inside


def open_backend(request, name: str, workers: int = 2):
    if name == "docker":
        request.getfixturevalue("docker_daemon")
    reason = available_backends()[name]
    if reason:
        pytest.skip(f"sandbox backend {name} unavailable: {reason}")
    with pytest.warns(RuntimeWarning) if name == "process" else _nullctx():
        return open_sandbox(name, workers=workers)


BACKEND_PARAMS = ["process", "bwrap", pytest.param("docker", marks=pytest.mark.docker)]


@pytest.fixture(scope="module", params=BACKEND_PARAMS)
def ev(request):
    box = open_backend(request, request.param)
    evaluator = Evaluator(load_problem(str(TOY)), LocalExecutor(box))
    yield evaluator
    evaluator.close()


class _nullctx:
    def __enter__(self):
        return self

    def __exit__(self, *a):
        return False


def run(ev, code: str, timeout_s: float = 10, memory_mb: int = 256, instance_set: str = "train"):
    ev.problem.spec.limits.timeout_s = timeout_s
    ev.problem.spec.limits.memory_mb = memory_mb
    return asyncio.run(ev.evaluate(code, [instance_set]))[0]


def procs_with(marker: str) -> list[int]:
    out = []
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                with open(f"/proc/{name}/cmdline", "rb") as f:
                    if marker.encode() in f.read():
                        with open(f"/proc/{name}/stat") as g:
                            if g.read().rsplit(")", 1)[1].split()[0] != "Z":
                                out.append(int(name))
            except OSError:
                pass
    return out


def assert_healthy(ev, marker: str | None = None) -> None:
    if marker:
        deadline = time.time() + 3
        while procs_with(marker) and time.time() < deadline:
            time.sleep(0.05)
        assert procs_with(marker) == [], "a candidate's process outlived its evaluation"
    r = run(ev, GOOD)
    assert r.status == "ok", r
    assert r.score == 0.0
    r = run(ev, "def solve(x):\n    return 2 * x + 1\n")  # its own answer, not a neighbour's
    assert r.status == "ok" and r.score == 1.0, r


def test_ok_result_shape(ev):
    r = run(ev, "def solve(x):\n    print('hello', x)\n    return 2 * x + 1\n")
    assert r.status == "ok", r
    assert set(r.instances) == {"a", "b", "c"}
    assert r.score == pytest.approx(1.0)
    assert "hello 1.0" in r.stdout_tail
    assert r.duration_s > 0


@pytest.mark.slow
def test_infinite_loop(ev):
    t = time.perf_counter()
    r = run(ev, "def solve(x):\n    while True:\n        pass\n", timeout_s=1.5)
    assert r.status == "timeout" and r.error == "timed out after 1.5 s"
    assert time.perf_counter() - t < 6
    assert_healthy(ev)


def test_10gb_allocation(ev):
    r = run(ev, "def solve(x):\n    b = bytearray(10 * 1024**3)\n    return 2 * x\n")
    assert r.status == "memory", r
    assert "memory" in r.error.lower()
    r = run(ev, "import numpy as np\ndef solve(x):\n    a = np.ones(10 * 1024**3 // 8)\n    return 2 * x\n")
    assert r.status == "memory", r
    assert_healthy(ev)


@pytest.mark.slow
def test_memory_cap_holds_for_the_process_tree(ev):
    """Six forked children of 150 MB each (900 MB) against a 256 MB cap: one of them dies, the set is `memory`."""
    code = """import os, time
def solve(x):
    kids = []
    for _ in range(6):
        pid = os.fork()
        if pid == 0:
            b = bytearray(150 * 1024 * 1024)
            for i in range(0, len(b), 4096):
                b[i] = 1
            time.sleep(30)
            os._exit(0)
        kids.append(pid)
    for pid in kids:
        _, st = os.waitpid(pid, 0)
        if os.WIFSIGNALED(st):
            raise MemoryError("a child was killed")
    return 2 * x
"""
    r = run(ev, code, timeout_s=20)
    assert r.status == "memory", r
    assert_healthy(ev)


@pytest.mark.slow
def test_memfd_hog_is_memory(ev):
    code = """import os
def solve(x):
    fd = os.memfd_create("hog")
    chunk = b"x" * (1 << 20)
    for _ in range(2000):
        os.write(fd, chunk)
    return 2 * x
"""
    r = run(ev, code, timeout_s=20)
    assert r.status == "memory", r
    assert_healthy(ev)


@pytest.mark.slow
def test_fork_bomb(ev):
    marker = f"bomb-{uuid.uuid4().hex}"
    code = f"""import os, sys
BOMB = "import os\\nwhile True:\\n    try:\\n        os.fork()\\n    except OSError:\\n        pass\\n"
def solve(x):
    if os.fork() == 0:
        os.execv(sys.executable, [sys.executable, "-c", BOMB, "{marker}"])
    while True:
        pass
"""
    r = run(ev, code, timeout_s=2)
    assert r.status == "timeout", r
    assert_healthy(ev, marker)


@pytest.mark.parametrize("addr", ["127.0.0.1", "198.51.100.1"])
def test_socket(ev, addr):
    t = time.perf_counter()
    r = run(ev, f"import socket\ndef solve(x):\n    socket.create_connection(('{addr}', 80), timeout=5)\n    return 2 * x\n")
    assert r.status == "forbidden", r
    assert "network" in r.error
    assert time.perf_counter() - t < 4
    # below the audit hook: the network namespace has no route out (process backend as root: its own netns)
    r = run(ev, f"""import _socket
def solve(x):
    s = _socket.socket(_socket.AF_INET, _socket.SOCK_STREAM)
    s.settimeout(3)
    return s.connect_ex(('{addr}', 80))
""")
    if ev.backend != "process" or os.getuid() == 0:
        assert r.status == "invalid" or r.score != 0  # connect_ex returned an errno, not 0 (connected)
    assert_healthy(ev)


def test_write_outside_scratch(ev, tmp_path):
    target = tmp_path / "pwned.txt"
    r = run(ev, f"def solve(x):\n    open({str(target)!r}, 'w').write('x')\n    return 2 * x\n")
    assert r.status == "forbidden", r
    assert "not allowed" in r.error
    assert not target.exists()
    r = run(ev, "def solve(x):\n    open('tmp.txt', 'w').write('x')\n    return 2 * x\n")
    assert r.status == "ok", r
    assert_healthy(ev)


def test_scratch_is_fresh_per_evaluation(ev):
    r = run(ev, "import os\ndef solve(x):\n    open('left-behind.txt', 'w').write('secret ' + str(x))\n"
                "    return 2 * x\n")
    assert r.status == "ok", r
    for _ in range(3):  # whichever worker it lands on, nothing of the earlier evaluation is there
        r = run(ev, "import os, glob\ndef solve(x):\n    found = glob.glob('/scratch/**', recursive=True) + "
                    "glob.glob(os.path.join(os.getcwd(), '..', '**', 'left-behind.txt'), recursive=True)\n"
                    "    assert not any(p.endswith('left-behind.txt') for p in found), found\n    return 2 * x\n")
        assert r.status == "ok", r


def test_read_secret_file(ev, tmp_path):
    if ev.backend == "process" and os.getuid() != 0:
        pytest.skip("the process backend started by a normal user does not isolate the filesystem (it warns)")
    secrets = [Path("/root") / f"discover-secret-{uuid.uuid4().hex}.txt"] if os.access("/root", os.W_OK) else []
    if ev.backend != "process":
        secrets.append(tmp_path / "secret.txt")
    try:
        for s in secrets:
            s.write_text("TOPSECRET")
            s.chmod(0o600)
            r = run(ev, f"def solve(x):\n    print(open({str(s)!r}).read())\n    return 2 * x\n")
            assert r.status in ("error", "forbidden"), r
            assert "TOPSECRET" not in r.stdout_tail
            assert "FileNotFoundError" in r.error or "PermissionError" in r.error
    finally:
        for s in secrets:
            s.unlink(missing_ok=True)
    assert_healthy(ev)


def planted_key() -> str:
    """The fake key planted in this process's environment (another test module may plant its own)."""
    key = os.environ["OPENAI_API_KEY"]
    assert key.startswith("sk-planted")
    return key


def test_env_is_clean(ev):
    key = planted_key()
    r = run(ev, "import os\nprint(sorted(os.environ))\nprint(os.environ.get('OPENAI_API_KEY'))\n"
                "def solve(x):\n    return 2 * x\n")
    assert r.status == "ok", r
    assert key not in r.stdout_tail and "OPENAI_API_KEY" not in r.stdout_tail


def test_cannot_read_parents_environment(ev):
    """/proc/<pid>/environ of discover itself (which holds the API key) and of the fork server."""
    me = os.getpid()
    key = planted_key()
    code = f"""import os
def solve(x):
    found = []
    for pid in [{me}, os.getppid(), 1] + [int(p) for p in os.listdir('/proc') if p.isdigit()]:
        try:
            found.append(open(f'/proc/{{pid}}/environ', 'rb').read())
        except OSError:
            pass
    if any(b'{key}' in e for e in found):
        return 'LEAKED'
    return 2 * x
"""
    r = run(ev, code)
    if ev.backend == "process" and os.getuid() != 0:
        pytest.skip("a normal user's process backend runs candidates as that user")
    assert r.status == "ok", r


def test_cannot_trace_or_signal_the_server(ev):
    code = """import ctypes, os, signal
def solve(x):
    libc = ctypes.CDLL(None, use_errno=True)
    ppid = os.getppid()
    if libc.ptrace(16, ppid, 0, 0) == 0:   # PTRACE_ATTACH
        return 'TRACED'
    try:
        open(f'/proc/{ppid}/mem', 'rb').read(1)
        return 'READ MEM'
    except OSError:
        pass
    try:
        os.kill(ppid, signal.SIGSTOP)
        os.kill(ppid, signal.SIGCONT)
        return 'SIGNALLED'
    except OSError:
        pass
    return 2 * x
"""
    r = run(ev, code)
    if ev.backend == "process" and os.getuid() != 0:
        pytest.skip("a normal user's process backend runs candidates as that user")
    assert r.status == "ok", r
    assert_healthy(ev)


def test_setsid_grandchild_dies(ev):
    marker = f"escape-{uuid.uuid4().hex}"
    code = f"""import os, sys
done = []
def solve(x):
    if not done:
        done.append(1)
        if os.fork() == 0:
            os.setsid()
            if os.fork() == 0:
                os.execv(sys.executable, [sys.executable, "-c", "import time; time.sleep(120)", "{marker}"])
            os._exit(0)
        import time; time.sleep(0.3)
    return 2 * x
"""
    r = run(ev, code)
    assert r.status == "ok", r
    assert_healthy(ev, marker)


def test_print_flood_is_an_output_limit(ev):
    r = run(ev, "import sys\ndef solve(x):\n    for _ in range(4):\n        sys.stdout.write('y' * 1_000_000)\n"
                "    print('END')\n    return 2 * x\n", timeout_s=30)
    assert r.status == "ok", r
    assert len(r.stdout_tail) < 5000 and r.stdout_tail.rstrip().endswith("END")
    assert "earlier bytes dropped" in r.stdout_tail
    r = run(ev, "import sys\ndef solve(x):\n    while True:\n        sys.stdout.write('y' * 1_000_000)\n", timeout_s=30)
    assert r.status == "output_limit", r
    assert "output limit" in r.error
    assert_healthy(ev)


@pytest.mark.parametrize("code,status,error", [
    ("import os\ndef solve(x):\n    os._exit(3)\n", "crash", "candidate exited with code 3 before returning"),
    ("import sys\ndef solve(x):\n    sys.exit(3)\n", "crash", "candidate called sys.exit()"),
    ("import ctypes\ndef solve(x):\n    return ctypes.string_at(0)\n", "crash", "killed by SIGSEGV"),
    ("def solve(x):\n    return 'two'\n", "invalid", "InvalidSolution: instance a: solve() returned str, expected a number"),
    ("import no_such_module_xyz\ndef solve(x):\n    return 2 * x\n", "error",
     "ModuleNotFoundError: No module named 'no_such_module_xyz'"),
    ("def solve(x):\n    return 1 / 0\n", "error", "ZeroDivisionError: division by zero"),
    ("def solve(x)\n    return 2 * x\n", "error", "SyntaxError: expected ':' (candidate.py, line 1)"),
])
def test_exits_and_errors(ev, code, status, error):
    r = run(ev, code)
    assert r.status == status, r
    assert r.error == error
    if status == "error" and "Syntax" not in error:
        assert r.traceback and 'File "candidate.py"' in r.traceback and "runner.py" not in r.traceback
    assert_healthy(ev)


def test_parallel_many(ev):
    async def many():
        return await asyncio.gather(*(ev.evaluate(f"def solve(x):\n    return 2 * x + {i}\n", ["train"])
                                      for i in range(6)))

    ev.problem.spec.limits.timeout_s = 10
    rs = [r[0] for r in asyncio.run(many())]
    assert [r.status for r in rs] == ["ok"] * 6
    assert [r.score for r in rs] == [float(i) for i in range(6)]


HOGS = {
    "forked children": """import os, time
def solve(x):
    kids = []
    for _ in range(6):
        pid = os.fork()
        if pid == 0:
            b = bytearray(150 * 1024 * 1024)
            for i in range(0, len(b), 4096):
                b[i] = 1
            time.sleep(30)
            os._exit(0)
        kids.append(pid)
    for pid in kids:
        os.waitpid(pid, 0)
    return 2 * x
""",
    "memfd": """import os, time
def solve(x):
    fd = os.memfd_create("hog")
    chunk = b"x" * (1 << 20)
    for _ in range(2000):
        os.write(fd, chunk)
    time.sleep(30)
    return 2 * x
""",
}


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["process", "bwrap"])
def test_memory_supervisor_without_a_cgroup(backend, request, monkeypatch):
    """Where no memory cgroup can be made, the fork server's supervisor holds the cap for the whole tree."""
    monkeypatch.setenv("DISCOVER_MEMORY_CAP", "supervisor")
    box = open_backend(request, backend, workers=1)
    evaluator = Evaluator(load_problem(str(TOY)), LocalExecutor(box))
    try:
        for name, code in HOGS.items():
            r = run(evaluator, code, timeout_s=20)
            assert r.status == "memory", (name, r)
            assert "memory limit" in r.error, (name, r)
        assert_healthy(evaluator)
    finally:
        evaluator.close()
