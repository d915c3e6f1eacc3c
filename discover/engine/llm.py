"""The loop's handle on the LLM gateway: every call of a run (proposals, reflections, a prompt target's task-model
calls) goes through here, so accounting and the failure policy are the same for all of them. A failed call (after
the gateway's retries) returns None; the third failure in a row raises LLMCallFailed (the provider is down or
misconfigured: the run stops, resumable). A spent budget raises BudgetExhausted.

Per-role limits (`limits`, e.g. {"task": 300, "optimizer": 20}, a target's call_limits()) count paid calls of a role:
a call reserves a place before it is sent and gives it back if it was answered from the cache, so concurrent calls
never overshoot, and a call that finds the limit full waits while reserved calls may still free places (a limit is
spent exactly). `budgeted=False` (a prompt target's held-out scoring) is not counted against them."""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import Any

from discover.errors import BudgetExhausted, LLMCallFailed
from discover.engine.stats import RunStats

MAX_LLM_FAILURES_IN_A_ROW = 3


class LLM:
    def __init__(self, gateway: Any, stats: RunStats, on_change: Any = None, limits: dict[str, int] | None = None,
                 used: dict[str, int] | None = None) -> None:
        self.gateway = gateway
        self.stats = stats
        self.on_change = on_change or (lambda: None)
        self.failures_in_a_row = 0
        self.paid_costs: list[float] = []
        self.limits = {k: v for k, v in (limits or {}).items() if v is not None}
        self.used: Counter = Counter(used or {})   # paid calls by role, this run (all sessions), budgeted ones only
        self._reserved: Counter = Counter()
        self._freed: asyncio.Condition | None = None

    def limit_reached(self, role: str) -> bool:
        return role in self.limits and self.used[role] >= self.limits[role]

    async def _reserve(self, role: str) -> None:
        if role not in self.limits:
            return
        if self._freed is None:
            self._freed = asyncio.Condition()
        async with self._freed:
            while self.used[role] + self._reserved[role] >= self.limits[role]:
                if not self._reserved[role]:
                    raise BudgetExhausted(f"{role} call budget of {self.limits[role]} reached")
                await self._freed.wait()
            self._reserved[role] += 1

    async def _settle(self, role: str, paid: bool) -> None:
        if role not in self.limits:
            return
        async with self._freed:
            self._reserved[role] -= 1
            self.used[role] += int(paid)
            self._freed.notify_all()

    async def _limited(self, role: str, budgeted: bool, call: Any) -> Any:
        if not budgeted:
            return await call()
        await self._reserve(role)
        paid = False
        try:
            resp = await call()
            paid = resp is not None and not resp.cached
            return resp
        finally:
            await self._settle(role, paid)

    def _account(self, resp: Any, role: str) -> Any:
        self.failures_in_a_row = 0
        if resp.cached:
            self.stats.cached_calls += 1
        else:
            self.stats.llm_calls += 1
            self.stats.calls_by_role[role] += 1
            self.stats.prompt_tokens += resp.prompt_tokens
            self.stats.completion_tokens += resp.completion_tokens
            self.stats.cost_usd += resp.cost_usd
            self.paid_costs.append(resp.cost_usd)
        self.on_change()
        return resp

    def _failed(self) -> None:
        self.stats.llm_errors += 1
        self.failures_in_a_row += 1
        self.on_change()

    @property
    def mean_cost(self) -> float:
        return sum(self.paid_costs) / len(self.paid_costs) if self.paid_costs else 0.0

    async def complete(self, *, role: str, tolerate_failure: bool = True, budgeted: bool = True, **kwargs: Any) -> Any:
        return await self._limited(role, budgeted, lambda: self._complete(role, tolerate_failure, **kwargs))

    async def _complete(self, role: str, tolerate_failure: bool, **kwargs: Any) -> Any:
        try:
            resp = await self.gateway.complete(role=role, **kwargs)
        except LLMCallFailed:
            self._failed()
            if self.failures_in_a_row >= MAX_LLM_FAILURES_IN_A_ROW or not tolerate_failure:
                raise
            return None
        return self._account(resp, role)

    async def choose(self, *, tolerate_failure: bool = True, budgeted: bool = True, **kwargs: Any) -> Any:
        return await self._limited("task", budgeted, lambda: self._choose(tolerate_failure, **kwargs))

    async def _choose(self, tolerate_failure: bool, **kwargs: Any) -> Any:
        try:
            resp = await self.gateway.choose(**kwargs)
        except LLMCallFailed:
            self._failed()
            if self.failures_in_a_row >= MAX_LLM_FAILURES_IN_A_ROW or not tolerate_failure:
                raise
            return None
        return self._account(resp, "task")
