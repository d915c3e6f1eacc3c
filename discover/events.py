"""What a running job tells the outside while it runs: a stream of small events.

The loop emits; displays subscribe (the terminal progress view, plain or JSON log lines, tests). Nothing here is
persisted: the store is the record, events are for watching. Emitting never raises into the loop: a broken
subscriber is dropped with one warning.

Kinds and their `data`:
  run_started    header fields: problem, target kind, strategy, model, executor/sandbox, budgets, what the backend
                 does not isolate (`isolation_note`)
  phase          slot: int | None, phase: str ("asking the model", "evaluating c3 on train50", "tuning c5", ...)
  llm_retry      slot, attempt, delay_s, error (a provider error being retried)
  candidate      id, operator, status, score, parent_score, delta (vs parent, signed: < 0 better when minimizing),
                 error (a few words), is_best
  budget         llm_calls, max_llm_calls, cost_usd, max_cost_usd, elapsed_s, timeout_s, proposals, max_proposals
  test_scoring   done, total, candidate id
  run_finished   status, stop_reason
"""

from __future__ import annotations

import time
import warnings
from dataclasses import dataclass, field
from typing import Any, Callable, Literal

EventKind = Literal["run_started", "phase", "llm_retry", "candidate", "budget", "test_scoring", "run_finished"]


@dataclass(frozen=True)
class RunEvent:
    kind: EventKind
    run_id: str
    data: dict[str, Any] = field(default_factory=dict)
    ts: float = field(default_factory=time.time)

    def to_json(self) -> dict[str, Any]:
        return {"schema": "discover.event/1", "kind": self.kind, "run_id": self.run_id, "ts": round(self.ts, 3),
                **self.data}


Subscriber = Callable[[RunEvent], None]


class EventBus:
    def __init__(self, *subscribers: Subscriber) -> None:
        self._subs: list[Subscriber] = list(subscribers)

    def subscribe(self, fn: Subscriber) -> None:
        self._subs.append(fn)

    def emit(self, kind: EventKind, run_id: str, **data: Any) -> None:
        event = RunEvent(kind=kind, run_id=run_id, data=data)
        for fn in list(self._subs):
            try:
                fn(event)
            except Exception as exc:  # noqa: BLE001 - watching must never break the run
                self._subs.remove(fn)
                warnings.warn(f"a progress display failed and was turned off: {type(exc).__name__}: {exc}",
                              RuntimeWarning, stacklevel=2)
