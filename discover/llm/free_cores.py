"""How many CPU threads the embedded model should use: the cores of this process's affinity set that nobody else
is using right now.

Measured here: on 2 shared cores, llama.cpp with 2 threads ran 17-24x slower than with 1 thread whenever another
process held one core (its threads wait for each other at every op; one of them keeps being descheduled). So the
thread count follows the idle time of our cores, from /proc/stat, counting our own process's CPU time as free (it
is the model itself). `DISCOVER_LOCAL_THREADS=<n>` pins it."""

from __future__ import annotations

import math
import os
import time
from typing import Callable

# A core counts as free when at least 70 % of it is idle: floor(free + 0.3).
_SLACK = 0.3


def usable_cores() -> list[int]:
    try:
        return sorted(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return list(range(os.cpu_count() or 1))


def pinned_threads() -> int | None:
    raw = os.environ.get("DISCOVER_LOCAL_THREADS", "").strip()
    return max(1, int(raw)) if raw.isdigit() else None


def _process_cpu_s() -> float:
    t = os.times()
    return t.user + t.system


class _Sample:
    __slots__ = ("at", "busy_s", "own_s")

    def __init__(self, at: float, busy_s: float | None, own_s: float) -> None:
        self.at, self.busy_s, self.own_s = at, busy_s, own_s


class FreeCores:
    """Tracks busy time on our cores between calls to `threads()`."""

    def __init__(self, cores: list[int] | None = None, stat_path: str = "/proc/stat",
                 own_cpu_s: Callable[[], float] | None = None, clock: Callable[[], float] = time.monotonic) -> None:
        self.cores = cores if cores is not None else usable_cores()
        self.stat_path = stat_path
        self._own_cpu_s = own_cpu_s or _process_cpu_s
        self._clock = clock
        self._tick = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
        self._last = self._sample()

    def _busy_seconds(self) -> float | None:
        """Non-idle seconds of our cores since boot, or None where /proc/stat is not readable."""
        wanted = {f"cpu{c}" for c in self.cores}
        busy = 0
        found = 0
        try:
            with open(self.stat_path) as f:
                for line in f:
                    parts = line.split()
                    if parts and parts[0] in wanted:
                        values = [int(x) for x in parts[1:9]]  # user nice system idle iowait irq softirq steal
                        busy += sum(values) - values[3] - values[4]
                        found += 1
        except (OSError, ValueError):
            return None
        return busy / self._tick if found else None

    def _sample(self) -> _Sample:
        return _Sample(self._clock(), self._busy_seconds(), self._own_cpu_s())

    def free(self) -> float | None:
        """Cores left idle by other processes since the last call (our own CPU time counts as free)."""
        now = self._sample()
        last, self._last = self._last, now
        wall = now.at - last.at
        if now.busy_s is None or last.busy_s is None or wall <= 0:
            return None
        others = max(0.0, (now.busy_s - last.busy_s) - (now.own_s - last.own_s)) / wall
        return max(0.0, len(self.cores) - others)

    def threads(self) -> int:
        """Threads for the next decodes: the free cores, at least 1, never more than the cores."""
        pinned = pinned_threads()
        if pinned is not None:
            return min(pinned, len(self.cores))
        free = self.free()
        if free is None:
            return len(self.cores)
        return max(1, min(len(self.cores), math.floor(free + _SLACK)))

    def initial_threads(self, window_s: float = 0.2) -> int:
        """A first pick from `window_s` of observation (at context creation)."""
        if pinned_threads() is None:
            self._last = self._sample()
            time.sleep(window_s)
        return self.threads()
