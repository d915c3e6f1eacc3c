"""The loop's handle on the LLM gateway: every call of a run (proposals, reflections, a prompt target's task-model
calls) goes through here, so accounting and the failure policy are the same for all of them. A failed call (after
the gateway's retries) returns None; the third failure in a row raises LLMCallFailed (the provider is down or
misconfigured: the run stops, resumable). A spent budget raises BudgetExhausted."""

from __future__ import annotations

from typing import Any

from discover.errors import LLMCallFailed
from discover.engine.stats import RunStats

MAX_LLM_FAILURES_IN_A_ROW = 3


class LLM:
    def __init__(self, gateway: Any, stats: RunStats, on_change: Any = None) -> None:
        self.gateway = gateway
        self.stats = stats
        self.on_change = on_change or (lambda: None)
        self.failures_in_a_row = 0
        self.paid_costs: list[float] = []

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

    async def complete(self, *, role: str, tolerate_failure: bool = True, **kwargs: Any) -> Any:
        try:
            resp = await self.gateway.complete(role=role, **kwargs)
        except LLMCallFailed:
            self._failed()
            if self.failures_in_a_row >= MAX_LLM_FAILURES_IN_A_ROW or not tolerate_failure:
                raise
            return None
        return self._account(resp, role)

    async def choose(self, *, tolerate_failure: bool = True, **kwargs: Any) -> Any:
        try:
            resp = await self.gateway.choose(**kwargs)
        except LLMCallFailed:
            self._failed()
            if self.failures_in_a_row >= MAX_LLM_FAILURES_IN_A_ROW or not tolerate_failure:
                raise
            return None
        return self._account(resp, "task")
