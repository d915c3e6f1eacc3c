"""The run store as the LLM gateway's CallLog: every call persisted before its text is used, and a
response cache shared by all runs in the runs directory (a resumed or repeated run re-pays nothing)."""

from __future__ import annotations

import json

from discover.store.db import Store


class StoreCallLog:
    def __init__(self, store: Store, run_id: str | None) -> None:
        self.store = store
        self.run_id = run_id

    def get_cached(self, key: str):
        from discover.llm import CallRecord

        rows = self.store._all(
            "SELECT * FROM llm_calls WHERE key = ? AND error IS NULL AND response IS NOT NULL ORDER BY id LIMIT 1", (key,)
        )
        if not rows:
            return None
        r = dict(rows[0])
        return CallRecord(
            key=r["key"], model=r["model"], role=r["role"], messages=json.loads(r["messages"]), params=json.loads(r["params"]),
            sample_index=r["sample_index"], response=r["response"], prompt_tokens=r["prompt_tokens"],
            completion_tokens=r["completion_tokens"], cost_usd=r["cost_usd"], latency_s=r["latency_s"],
            cached=bool(r["cached"]), error=r["error"], created_at=r["created_at"],
        )

    def record(self, rec) -> None:
        self.store._exec(
            "INSERT INTO llm_calls (run_id, key, model, role, messages, params, sample_index, response, prompt_tokens,"
            " completion_tokens, cost_usd, latency_s, cached, error, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (self.run_id, rec.key, rec.model, rec.role, json.dumps(rec.messages), json.dumps(rec.params, sort_keys=True),
             rec.sample_index, rec.response, rec.prompt_tokens, rec.completion_tokens, rec.cost_usd, rec.latency_s,
             int(rec.cached), rec.error, rec.created_at),
        )
