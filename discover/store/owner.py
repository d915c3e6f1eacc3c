"""Who owns a run: a process identified by pid, host and start time (pids are reused quickly, in containers
especially, so a live pid with another start time is not the owner)."""

from __future__ import annotations

import os
import socket


def this_host() -> str:
    return socket.gethostname()


def _proc_stat(pid: int) -> tuple[str, float] | None:
    """(state letter, start time in clock ticks since boot) from Linux /proc, or None where it cannot be read."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            stat = f.read().decode("ascii", "replace")
    except OSError:
        return None
    # The command name (field 2) is in parentheses and may hold spaces: split after its closing one.
    fields = stat[stat.rfind(")") + 2:].split()
    try:
        return fields[0], float(fields[19])  # state is field 3, starttime field 22
    except (IndexError, ValueError):
        return None


def process_started(pid: int) -> float | None:
    stat = _proc_stat(pid)
    return stat[1] if stat else None


def is_alive(pid: int | None, host: str | None, started: float | None = None) -> bool | None:
    """True/False for a process on this host; None when the process is on another host (cannot tell from here)."""
    if pid is None:
        return False
    if host and host != this_host():
        return None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # alive, owned by another user
    stat = _proc_stat(pid)
    if stat is None:
        return True  # no /proc here (or hidden): trust the signal check
    state, now_started = stat
    if state in ("Z", "X"):
        return False  # exited, not yet reaped
    return started is None or now_started == started  # another start time: the pid was reused
