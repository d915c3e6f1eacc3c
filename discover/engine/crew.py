"""A set of asyncio tasks that fail together: the first exception cancels the others and is raised from join();
cancelling from outside (the wall-clock watchdog) ends them without an error. Like asyncio.TaskGroup, but tasks
can be added while it is joined and the error comes out as itself, not in an ExceptionGroup."""

from __future__ import annotations

import asyncio
from typing import Any, Coroutine


class Crew:
    def __init__(self) -> None:
        self.tasks: set[asyncio.Task] = set()
        self.error: BaseException | None = None

    def spawn(self, coro: Coroutine[Any, Any, Any]) -> asyncio.Task:
        task = asyncio.ensure_future(coro)
        self.tasks.add(task)
        task.add_done_callback(self._finished)
        return task

    def _finished(self, task: asyncio.Task) -> None:
        self.tasks.discard(task)
        if task.cancelled():
            return
        exc = task.exception()
        if exc is not None and self.error is None:
            self.error = exc
            self.cancel_all()

    def cancel_all(self) -> None:
        for t in list(self.tasks):
            t.cancel()

    async def join(self) -> None:
        try:
            while self.tasks:
                await asyncio.wait(set(self.tasks))
        except asyncio.CancelledError:
            self.cancel_all()
            if self.tasks:
                await asyncio.wait(set(self.tasks))
            raise
        if self.error is not None:
            err, self.error = self.error, None
            raise err
