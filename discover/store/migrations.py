"""Schema migrations, applied in place inside the opening transaction: `STEPS[v]` takes a store from version v to
v + 1. After the steps, schema.sql (all CREATE ... IF NOT EXISTS) adds the new tables and indexes."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable


def _v1_to_v2(conn: sqlite3.Connection) -> None:
    for column in ("owner_pid INTEGER", "owner_host TEXT", "owner_started REAL", "heartbeat_at REAL"):
        conn.execute(f"ALTER TABLE runs ADD COLUMN {column}")
    conn.execute("ALTER TABLE candidates ADD COLUMN meta TEXT NOT NULL DEFAULT '{}'")
    # v1 could record a (candidate, split, set) twice; v2 records it once. Keep the newest row of each.
    conn.execute(
        "DELETE FROM evaluations WHERE id IN (SELECT id FROM (SELECT id, row_number() OVER (PARTITION BY candidate_id,"
        " split, instance_set ORDER BY created_at DESC, id DESC) AS rank FROM evaluations) WHERE rank > 1)"
    )
    # The unique index (candidate_id, split, instance_set) serves lookups by candidate; the old one is redundant.
    conn.execute("DROP INDEX IF EXISTS evaluations_candidate")


STEPS: dict[int, Callable[[sqlite3.Connection], None]] = {1: _v1_to_v2}
