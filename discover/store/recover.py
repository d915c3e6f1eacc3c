"""Repair a damaged run database in place, keeping a copy of the damaged file beside it.

    python -m discover.store.recover runs/

Only indexes damaged (the tables are intact): REINDEX rebuilds them, nothing is lost. Table pages damaged: every
row that can still be read is copied, table by table in rowid order, into a fresh store that replaces the old
one; rows on unreadable pages are lost and counted. Stop runs that use the store first."""

from __future__ import annotations

import os
import shutil
import sqlite3
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from discover.errors import StoreError
from discover.store import integrity
from discover.store.db import DB_FILENAME, Store
from discover.store.owner import is_alive

_BATCH = 500


@dataclass
class Recovery:
    path: Path
    action: str  # "none" | "reindexed" | "salvaged"
    backup: Path | None = None
    damaged: dict[str, str] = field(default_factory=dict)
    copied: dict[str, int] = field(default_factory=dict)  # table -> rows copied (salvage)
    unreadable: dict[str, int] = field(default_factory=dict)  # table -> rowid ranges skipped (salvage)
    dropped: dict[str, int] = field(default_factory=dict)  # table -> rows read back with wrong types or references

    def summary(self) -> str:
        if self.action == "none":
            return f"{self.path}: no damage found, nothing to do"
        names = ", ".join(sorted(self.damaged)) or "page structure"
        if self.action == "reindexed":
            return f"{self.path}: rebuilt damaged indexes ({names}); no data lost; damaged copy kept at {self.backup}"
        kept = ", ".join(f"{n} {t}" for t, n in self.copied.items())
        lost = ", ".join(f"{t} ({n} unreadable stretches)" for t, n in self.unreadable.items() if n)
        dropped = ", ".join(f"{n} {t}" for t, n in self.dropped.items() if n)
        if dropped:
            lost += f"{'; ' if lost else ''}dropped as garbled: {dropped}"
        loss = f"rows lost in: {lost}" if lost else "every row was readable, no data lost"
        return f"{self.path}: copied {kept} into a fresh store; {loss}; damaged copy kept at {self.backup}"

    @property
    def lost_rows(self) -> bool:
        return any(self.unreadable.values()) or any(self.dropped.values())


def recover(runs_dir: Path | str) -> Recovery:
    path = Path(runs_dir) / DB_FILENAME
    if not path.is_file():
        raise StoreError(f"no run database at {path}", path=str(path))
    conn = sqlite3.connect(path, isolation_level=None)
    conn.text_factory = lambda b: b.decode("utf-8", "replace")
    try:
        try:
            problems = integrity.run_check(conn, path)
        except StoreError:
            problems = ["the integrity check itself fails"]
        if not problems:
            return Recovery(path, "none")
        damaged = integrity.damaged_objects(conn, problems)
        _refuse_if_running(conn, path)
    finally:
        conn.close()
    # Copied with no connection open: closing another descriptor of the file would drop this process's SQLite locks.
    try:
        backup = _backup(path)
    except OSError as exc:
        raise StoreError(f"cannot keep a copy of the damaged {path} beside it ({exc.strerror}); recover a "
                         "writable copy of the folder instead", path=str(path)) from exc
    conn = sqlite3.connect(path, isolation_level=None)
    conn.text_factory = lambda b: b.decode("utf-8", "replace")
    try:
        if damaged and all(kind == "index" for kind in damaged.values()):
            try:
                conn.execute("REINDEX")
                if not integrity.run_check(conn, path):
                    return Recovery(path, "reindexed", backup, damaged)
            except (sqlite3.DatabaseError, StoreError):
                pass  # the tables are damaged too after all: salvage
        report, fresh_dir = _salvage(conn, path, backup, damaged)
    finally:
        conn.close()
    _replace(path, fresh_dir)  # with the damaged file's connection closed
    return report


def _refuse_if_running(conn: sqlite3.Connection, path: Path) -> None:
    """Replacing the file under a live writer would lose what it writes next."""
    try:
        owners = conn.execute("SELECT id, owner_pid, owner_host, owner_started FROM runs WHERE owner_pid IS NOT NULL").fetchall()
    except sqlite3.DatabaseError:
        return  # a v1 store, or the runs table is unreadable: nothing to go by
    for run_id, pid, host, started in owners:
        if is_alive(pid, host, started) is not False:
            raise StoreError(f"run {run_id} is still being run by pid {pid} on host {host}; stop it before recovering "
                             f"{path}", path=str(path), run_id=run_id)


def _backup(path: Path) -> Path:
    backup = path.with_name(f"{path.name}.damaged-{time.strftime('%Y%m%d-%H%M%S')}")
    shutil.copy2(path, backup)
    wal = Path(f"{path}-wal")
    if wal.exists():
        shutil.copy2(wal, Path(f"{backup}-wal"))
    return backup


def _salvage(src: sqlite3.Connection, path: Path, backup: Path, damaged: dict[str, str]) -> tuple[Recovery, Path]:
    """Copy what is readable into a fresh store beside the damaged one; returns the report and the fresh store's
    folder."""
    fresh_dir = path.with_name(f"{path.name}.recovering")
    shutil.rmtree(fresh_dir, ignore_errors=True)
    fresh = Store(fresh_dir)  # the current schema, 0600/0700 like any store
    out = fresh._conn
    out.execute("PRAGMA foreign_keys=OFF")  # tables are copied one by one; _drop_garbled checks references after
    report = Recovery(path, "salvaged", backup, damaged)
    ours = [r[0] for r in out.execute("SELECT name FROM sqlite_master WHERE type='table' AND name NOT LIKE 'sqlite_%'")]
    for table in ours:
        if table == "meta":
            continue
        columns = [r[1] for r in out.execute(f"PRAGMA table_info({table})")]
        try:
            have = {r[1] for r in src.execute(f"PRAGMA table_info({table})")}
        except sqlite3.DatabaseError:
            have = set()
        if not have:
            continue
        common = [c for c in columns if c in have]
        copied, skipped = _copy_table(src, out, table, common)
        report.copied[table], report.unreadable[table] = copied, skipped
    report.dropped = _drop_garbled(out)
    for table, n in report.dropped.items():
        report.copied[table] -= n
    fresh.close()
    return report, fresh_dir


def _replace(path: Path, fresh_dir: Path) -> None:
    for suffix in ("-wal", "-shm"):  # the old log belongs to the old file: never pair it with the new one
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    os.replace(fresh_dir / DB_FILENAME, path)
    shutil.rmtree(fresh_dir, ignore_errors=True)


def _copy_table(src: sqlite3.Connection, out: sqlite3.Connection, table: str, columns: list[str]) -> tuple[int, int]:
    """Copy readable rows in rowid order. Where a batch fails, copy row by row up to the damaged page, then find
    the first rowid past it from which reading works again."""
    cols = ", ".join(columns)
    insert = f"INSERT OR IGNORE INTO {table} (rowid, {cols}) VALUES ({', '.join('?' * (len(columns) + 1))})"

    def after(rowid: int, limit: int) -> list | None:
        try:
            return src.execute(f"SELECT rowid, {cols} FROM {table} NOT INDEXED WHERE rowid > ? ORDER BY rowid LIMIT {limit}",
                               (rowid,)).fetchall()
        except sqlite3.DatabaseError:
            return None

    last, copied, skipped = -(2**63), 0, 0
    out.execute("BEGIN")
    while True:
        rows = after(last, _BATCH)
        if rows is None:
            while (one := after(last, 1)):
                out.execute(insert, one[0])
                copied, last = copied + 1, one[0][0]
            if one == []:
                break
            skipped += 1
            resume = _past_damage(after, last)
            if resume is None:
                break
            last = resume
            continue
        if not rows:
            break
        out.executemany(insert, rows)
        copied, last = copied + len(rows), rows[-1][0]
    out.execute("COMMIT")
    return copied, skipped


# Rows that point at a row of another table; a row read from a damaged page can name nothing that exists.
_REFERENCES = (("candidates", "run_id", "runs", "id"), ("evaluations", "candidate_id", "candidates", "id"),
               ("feedback", "candidate_id", "candidates", "id"), ("proposals", "run_id", "runs", "id"),
               ("archive_state", "run_id", "runs", "id"))


def _drop_garbled(out: sqlite3.Connection) -> dict[str, int]:
    """A page can be damaged yet parse, yielding rows of garbage: drop rows whose values do not have their column's
    type (NULL where NOT NULL) or whose reference leads nowhere. Counted per table."""
    dropped: dict[str, int] = {}
    out.execute("BEGIN")
    for (table,) in out.execute("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' AND name != 'meta'").fetchall():
        bad = []
        for _, col, decl, notnull, _, _ in out.execute(f"PRAGMA table_info({table})").fetchall():
            want = {"INTEGER": "('integer')", "REAL": "('real', 'integer')", "TEXT": "('text')"}.get(decl.upper())
            if want:
                bad.append(f"(\"{col}\" IS NOT NULL AND typeof(\"{col}\") NOT IN {want})")
            if notnull:
                bad.append(f"\"{col}\" IS NULL")
        if bad:
            n = out.execute(f"DELETE FROM {table} WHERE {' OR '.join(bad)}").rowcount
            dropped[table] = dropped.get(table, 0) + n
    for table, col, parent, key in _REFERENCES:
        n = out.execute(f"DELETE FROM {table} WHERE {col} IS NOT NULL AND {col} NOT IN (SELECT {key} FROM {parent})").rowcount
        dropped[table] = dropped.get(table, 0) + n
    out.execute("COMMIT")
    return dropped


def _past_damage(after, bad: int) -> int | None:
    """The smallest rowid r > bad from which `after(r, 1)` reads again (doubling steps, then bisection)."""
    bad, step = max(bad, 0), 1  # discover's rowids are positive
    while after(bad + step, 1) is None:
        step *= 2
        if step > 2**62:
            return None
    lo, hi = bad + step // 2, bad + step  # after(lo) failed (or lo == bad), after(hi) works
    while hi - lo > 1:
        mid = (lo + hi) // 2
        lo, hi = (lo, mid) if after(mid, 1) is not None else (mid, hi)
    return hi


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1 or args[0].startswith("-"):
        print("usage: python -m discover.store.recover RUNS_DIR", file=sys.stderr)
        return 2
    try:
        print(recover(Path(args[0])).summary())
    except StoreError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    return 0


if __name__ == "__main__":
    sys.exit(main())
