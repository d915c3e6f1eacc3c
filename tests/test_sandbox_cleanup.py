"""What a discover killed with SIGKILL leaves behind is removed by the next start, on every backend."""

from __future__ import annotations

import glob
import os
import signal
import subprocess
import sys
import tempfile
import time

import pytest

from discover.sandbox import available_backends, cleanup_leftovers

SCRIPT = """
import sys, time, warnings
warnings.simplefilter("ignore")
from discover.sandbox import open_sandbox
sb = open_sandbox(sys.argv[1], workers=1)
sb.warm_up()
print("up", sb._all[0].uid, flush=True)
time.sleep(120)
"""


def _docker_containers(pid: int) -> list:
    from discover.sandbox.docker import LABEL, _client

    return [c for c in _client(10).containers.list(all=True, filters={"label": LABEL})
            if c.labels.get(LABEL) == str(pid)]


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["process", "bwrap", pytest.param("docker", marks=pytest.mark.docker)])
def test_leftovers_of_a_killed_run_are_removed(backend, request):
    if backend == "docker":
        request.getfixturevalue("docker_daemon")
    reason = available_backends()[backend]
    if reason:
        pytest.skip(f"sandbox backend {backend} unavailable: {reason}")
    p = subprocess.Popen([sys.executable, "-c", SCRIPT, backend], stdout=subprocess.PIPE, text=True)
    line = p.stdout.readline().split()
    assert line and line[0] == "up", line
    uid = int(line[1])
    pattern = os.path.join(tempfile.gettempdir(), f"discover-sb-{p.pid}-*")
    assert glob.glob(pattern), "the worker's dir should exist while it runs"
    if backend == "docker":
        assert _docker_containers(p.pid)
    os.kill(p.pid, signal.SIGKILL)
    p.wait()
    time.sleep(0.5)
    cleanup_leftovers()
    assert glob.glob(pattern) == []
    if os.getuid() == 0:
        from discover.sandbox.cgroups import _own

        for ctrl in ("memory", "pids"):
            base = _own(ctrl)
            if base is not None:
                assert list(base.glob(f"discover-{p.pid}-*")) == []
        deadline = time.time() + 5
        while time.time() < deadline and any(_uid_of(d) == uid for d in os.listdir("/proc") if d.isdigit()):
            time.sleep(0.1)
        assert not [d for d in os.listdir("/proc") if d.isdigit() and _uid_of(d) == uid], "a candidate process survived"
    if backend == "docker":
        assert _docker_containers(p.pid) == []


def _uid_of(pid: str) -> int | None:
    try:
        return os.stat(f"/proc/{pid}").st_uid
    except OSError:
        return None
