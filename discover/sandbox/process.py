"""process backend: the fork server as a plain child process, for hosts with neither bubblewrap nor Docker.

It is NOT a real sandbox. Started by root it does what it can: each candidate runs as a fresh unused uid with no
capabilities, no_new_privs and a seccomp filter that refuses ptrace, in a private mount/network/IPC namespace of
the server's where /tmp, /dev/shm and the problem and run folders are covered by empty tmpfs mounts, with a
cleared environment, in a memory + pids cgroup. Started by a normal user it has only rlimits, a process group,
a cleared environment, the memory supervisor and the audit hook: the candidate runs as you, can read your files
and reach the network. `discover doctor` and the run header say which.
"""

from __future__ import annotations

import os
import subprocess
import sys

from discover.sandbox.worker import RUNNER, Worker, sandbox_env

ISOLATION_NOTE_ROOT = ("process backend (root): candidates run as an unused uid without capabilities, no network, "
                       "problem folders and the run store hidden; other world-readable host files stay readable")
ISOLATION_NOTE_USER = ("process backend: NO isolation — candidates run as your user, can read your files and use "
                       "the network; only rlimits, a memory supervisor and the audit hook apply")


def isolation_note() -> str:
    return ISOLATION_NOTE_ROOT if os.getuid() == 0 else ISOLATION_NOTE_USER


class ProcessWorker(Worker):
    backend = "process"

    def _spawn(self) -> None:
        assert self.tmp is not None
        scratch = self.tmp / "scratch"
        scratch.mkdir(exist_ok=True)
        cmd = [sys.executable, "-I", str(RUNNER), "serve", "--scratch", str(scratch)]
        if os.getuid() == 0:
            cmd += ["--uid", str(self.uid), "--isolate-root"]
            for d in self.hide:
                cmd += ["--hide", str(d)]
            from discover.sandbox.bwrap import _python_paths
            from discover.sandbox.worker import SANDBOX_DIR, WIRE

            for d in {*_python_paths(), SANDBOX_DIR, WIRE.parent}:
                cmd += ["--keep", str(d)]
        if self.cgroup is None or not self.cgroup.caps_memory:
            cmd.append("--supervise-memory")
        # no cwd change into scratch: after --isolate-root the server makes its own under a private /tmp
        self.proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     env=sandbox_env(self.gpus), cwd="/", start_new_session=True, close_fds=True,
                                     preexec_fn=self.cgroup.join_command() if self.cgroup else None)
