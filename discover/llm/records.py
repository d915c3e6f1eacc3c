"""What the gateway records and returns, its budget, and the in-memory call log used in tests."""

from __future__ import annotations

import hashlib
import json
import threading
import time
from typing import Any, Protocol

from pydantic import BaseModel, Field

from discover.errors import BudgetExhausted


class LLMResponse(BaseModel):
    text: str
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float = 0.0
    latency_s: float = 0.0
    cached: bool = False
    model: str
    key: str


class CallRecord(BaseModel):
    key: str
    model: str
    role: str
    messages: list[dict[str, Any]]
    params: dict[str, Any]
    sample_index: int
    response: str | None = None
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float = 0.0
    latency_s: float = 0.0
    cached: bool = False
    error: str | None = None
    created_at: float = Field(default_factory=time.time)


class CallLog(Protocol):
    def get_cached(self, key: str) -> CallRecord | None: ...

    def record(self, rec: CallRecord) -> None: ...


class MemoryCallLog:
    def __init__(self) -> None:
        self.records: list[CallRecord] = []

    def get_cached(self, key: str) -> CallRecord | None:
        return next((r for r in self.records if r.key == key and r.error is None and r.response is not None), None)

    def record(self, rec: CallRecord) -> None:
        self.records.append(rec)


def call_key(model: str, messages: list[dict[str, Any]], params: dict[str, Any], sample_index: int) -> str:
    canonical = json.dumps({"model": model, "messages": messages, "params": params, "sample_index": sample_index},
                           sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


class Budget:
    """Paid calls and cost. A call is reserved before it is sent so concurrent callers cannot overshoot."""

    def __init__(self, max_calls: int | None = None, max_cost_usd: float | None = None,
                 used_calls: int = 0, used_cost_usd: float = 0.0) -> None:
        self.max_calls = max_calls
        self.max_cost_usd = max_cost_usd
        self.used_calls = used_calls
        self.used_cost_usd = used_cost_usd
        self._in_flight = 0
        self._lock = threading.Lock()

    def reserve(self) -> None:
        with self._lock:
            if self.max_calls is not None and self.used_calls + self._in_flight >= self.max_calls:
                raise BudgetExhausted(f"LLM call budget of {self.max_calls} reached")
            # Calls in flight are not billed yet: count each at the average cost so far.
            average = self.used_cost_usd / self.used_calls if self.used_calls else 0.0
            if self.max_cost_usd is not None and self.used_cost_usd + self._in_flight * average >= self.max_cost_usd:
                raise BudgetExhausted(f"cost budget of ${self.max_cost_usd:g} reached (spent ${self.used_cost_usd:.4f})")
            self._in_flight += 1

    def settle(self, cost_usd: float, paid: bool) -> None:
        with self._lock:
            self._in_flight -= 1
            if paid:
                self.used_calls += 1
                self.used_cost_usd += cost_usd
