"""The default executor: a pool of warm sandbox workers on this machine (discover/sandbox)."""

from __future__ import annotations

import asyncio
from typing import Any

from discover.executors.base import CandidateRun, RawRun


class LocalExecutor:
    name = "local"

    def __init__(self, sandbox: Any) -> None:
        self.sandbox = sandbox
        self._slots: dict[int, asyncio.Semaphore] = {}  # one per event loop (an API user may run several)

    @classmethod
    def open(cls, *, sandbox: str = "auto", workers: int | None = None, gpus: Any = None, **_: Any) -> "LocalExecutor":
        from discover.sandbox import open_sandbox

        return cls(open_sandbox(sandbox, workers=workers, gpus=gpus))

    @property
    def capacity(self) -> int:
        return self.sandbox.workers

    @property
    def backend(self) -> str:
        return self.sandbox.backend

    async def run(self, job: CandidateRun, deadline: float | None = None) -> RawRun:
        loop = id(asyncio.get_running_loop())
        if loop not in self._slots:
            self._slots[loop] = asyncio.Semaphore(self.capacity)
        async with self._slots[loop]:  # wait here, not in a thread: a cancelled wait costs nothing
            return await asyncio.to_thread(self.sandbox.run, job, deadline)

    def describe(self) -> dict[str, Any]:
        from discover.sandbox import isolation_note

        return {"executor": "local", "sandbox": self.sandbox.backend, "workers": self.sandbox.workers,
                "isolation_note": isolation_note(self.sandbox.backend)}

    def close(self) -> None:
        self.sandbox.close()
