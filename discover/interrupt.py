"""Stopping a running job on Ctrl-C or SIGTERM by cancelling its asyncio main task.

Raising KeyboardInterrupt wherever the signal lands can hit a task mid-await and leave it half-cancelled; asyncio
then prints "Task was destroyed but it is pending!" and the task's traceback at exit. Cancelling the main task
unwinds every await in order instead (an LLM generation stops, the store keeps what it has), like asyncio.Runner
does for SIGINT."""

from __future__ import annotations

import asyncio
import signal
from typing import Any, Awaitable, Callable, TypeVar

T = TypeVar("T")

_job: dict[str, Any] = {"task": None, "loop": None, "reason": None}


def signal_reason(signum: int) -> str:
    return "Ctrl-C" if signum == signal.SIGINT else signal.Signals(signum).name


def interrupted_reason(exc: KeyboardInterrupt) -> str:
    """The stop reason stored for a run that `exc` interrupted: "interrupted (Ctrl-C)", "interrupted (SIGTERM)"."""
    return f"interrupted ({exc.args[0] if exc.args else 'Ctrl-C'})"


def run_job(make_coro: Callable[[], Awaitable[T]]) -> T:
    """asyncio.run for a job's main coroutine. A stop request cancels it; that surfaces here as
    KeyboardInterrupt(reason), e.g. KeyboardInterrupt("SIGTERM")."""

    async def main() -> T:
        _job.update(task=asyncio.current_task(), loop=asyncio.get_running_loop(), reason=None)
        try:
            return await make_coro()
        finally:
            _job.update(task=None, loop=None)

    try:
        return asyncio.run(main())
    except asyncio.CancelledError:
        if _job["reason"] is None:
            raise
        raise KeyboardInterrupt(_job["reason"]) from None
    finally:
        _job["reason"] = None


def request_stop(signum: int) -> bool:
    """From a signal handler: cancel the running job. False when no job runs, or on a second signal while the
    first is still unwinding (the caller then raises KeyboardInterrupt: a hard stop)."""
    task, loop = _job["task"], _job["loop"]
    if task is None or loop is None or task.done() or _job["reason"] is not None:
        return False
    _job["reason"] = signal_reason(signum)
    loop.call_soon_threadsafe(task.cancel)
    return True
