"""Turning SQLite's failures into one line that says what happened and what can be recovered: the start-up
integrity check (which objects are damaged, whether data or only indexes), and the error of any statement
(disk full, locked, read-only, corrupt)."""

from __future__ import annotations

import json
import os
import re
import sqlite3
from pathlib import Path

from discover.errors import StoreError

# Index-vs-table mismatches (found by integrity_check, not quick_check) name the index.
_INDEX_PROBLEM = re.compile(r"(?:missing from index|entries in index|entry in index|in index) (\w+)")
_TREE_PROBLEM = re.compile(r"^Tree (\d+) page (\d+)")
_PAGE_PROBLEM = re.compile(r"(?:On tree page|On page|page) (\d+)")
MAX_PROBLEMS = 100
# Measured (bench/store_bench.py, docs/store.md): quick_check misses an index that no longer matches its table --
# the damage that silently gives wrong numbers -- and saves only about a third of the time. Writers run the full
# check at every open; readers skip it while the files are exactly as a full check last found them.
WRITER_CHECK = "integrity_check"
READER_CHECK = "integrity_check unless unchanged since the last one"
VERIFIED_SUFFIX = ".verified"


def check(conn: sqlite3.Connection, path: Path, *, full: bool = True) -> None:
    """`PRAGMA integrity_check` (full: also every index against its table) or `quick_check`; StoreError naming
    what is damaged and how to recover, if anything is."""
    pragma = "integrity_check" if full else "quick_check"
    try:
        problems = run_check(conn, path, pragma)
    except StoreError:
        if not full:
            raise
        # The index comparison can stop at a page it cannot parse; the structural check still says where it is.
        try:
            problems = run_check(conn, path, "quick_check") or ["the index comparison stopped at a malformed page"]
        except StoreError:
            problems = ["the integrity check stops at a malformed page"]
    if not problems:
        return
    damaged = damaged_objects(conn, problems) or unreadable_objects(conn)
    only_indexes = bool(damaged) and all(kind == "index" for kind in damaged.values())
    names = ", ".join(f"{kind} {name}" for name, kind in sorted(damaged.items())) or "its page structure"
    more = f"{len(problems)}{'+' if len(problems) >= MAX_PROBLEMS else ''} problem{'s' if len(problems) > 1 else ''}"
    raise StoreError(
        f"run database {path} is damaged: {names} ({more}); "
        + recover_hint(path, only_indexes=only_indexes),
        path=str(path), problems=problems, damaged=damaged, only_indexes=only_indexes,
    )


def check_once(conn: sqlite3.Connection, path: Path, *, trust_unchanged: bool) -> bool:
    """The full check, skipped (returning False) when trust_unchanged and the database and its log are
    where the last passing check left them (same inode, size and mtime of the database and its log). Records a
    passing check where the folder is writable."""
    state = file_state(path)
    marker = Path(f"{path}{VERIFIED_SUFFIX}")
    if trust_unchanged and state is not None:
        try:
            if json.loads(marker.read_text()) == state:
                return False
        except (OSError, ValueError):
            pass
    check(conn, path)
    if state is not None and state == file_state(path):  # nothing was written while checking
        try:
            fd = os.open(f"{marker}.tmp", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w") as f:
                json.dump(state, f)
            os.replace(f"{marker}.tmp", marker)
        except OSError:
            pass  # a read-only folder: check again next time
    return True


def file_state(path: Path) -> dict | None:
    """What changes whenever SQLite writes: the database's and its log's identity, size and mtime. Only stat():
    opening and closing the files here would drop this process's SQLite locks on them (POSIX locks belong to the
    process, not the descriptor) and let another process delete the log under a live connection."""
    try:
        state: dict = {}
        for name, p in (("db", path), ("wal", Path(f"{path}-wal"))):
            if name == "wal" and not p.exists():
                continue
            st = os.stat(p)
            state[name] = [st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns]
        return state
    except OSError:
        return None


def run_check(conn: sqlite3.Connection, path: Path, pragma: str = "integrity_check") -> list[str]:
    """The check's problems, one per line ([] when the database is sound)."""
    try:
        rows = [r[0] for r in conn.execute(f"PRAGMA {pragma}({MAX_PROBLEMS})")]
    except sqlite3.DatabaseError as exc:
        raise explain(exc, path, doing="checking") from exc
    if rows == ["ok"]:
        return []
    # Page-structure problems come as one row of several lines under a '*** in database main ***' banner.
    return [line.strip() for row in rows for line in str(row).splitlines() if line.strip() and not line.startswith("***")]


def damaged_objects(conn: sqlite3.Connection, problems: list[str]) -> dict[str, str]:
    """{name: 'table' | 'index'} of the objects the integrity check's messages point at."""
    roots, kinds = {}, {}
    try:
        for name, kind, root in conn.execute("SELECT name, type, rootpage FROM sqlite_master WHERE type IN ('table', 'index')"):
            roots[root], kinds[name] = name, kind
    except sqlite3.DatabaseError:
        return {}
    found: dict[str, str] = {}
    pages: set[int] = set()
    for line in problems:
        if m := _INDEX_PROBLEM.search(line):
            found[m.group(1)] = kinds.get(m.group(1), "index")
        elif m := _TREE_PROBLEM.search(line):
            if (name := roots.get(int(m.group(1)))) is not None:
                found[name] = kinds[name]
        elif m := _PAGE_PROBLEM.search(line):
            pages.add(int(m.group(1)))
    if pages:  # a page number without its tree: ask dbstat which object it belongs to (may itself fail)
        try:
            marks = ",".join("?" * len(pages))
            for (name,) in conn.execute(f"SELECT DISTINCT name FROM dbstat WHERE pageno IN ({marks})", tuple(pages)):
                found[name] = kinds.get(name, "table")
        except sqlite3.DatabaseError:
            pass
    return found


def unreadable_objects(conn: sqlite3.Connection) -> dict[str, str]:
    """Where the checks themselves fail: the tables and indexes a full scan cannot read."""
    found: dict[str, str] = {}
    try:
        objects = conn.execute("SELECT name, type, tbl_name FROM sqlite_master WHERE type IN ('table', 'index')"
                               " AND name NOT LIKE 'sqlite_stat%'").fetchall()
    except sqlite3.DatabaseError:
        return {}
    for name, kind, table in objects:
        scan = f"SELECT * FROM \"{table}\" NOT INDEXED" if kind == "table" else f"SELECT 1 FROM \"{table}\" INDEXED BY \"{name}\""
        try:
            for _ in conn.execute(scan):
                pass
        except sqlite3.DatabaseError:
            found[name] = kind
    return found


def recover_hint(path: Path, *, only_indexes: bool = False) -> str:
    runs_dir = path.parent
    if only_indexes:
        return (f"the tables are intact, nothing is lost: rebuild the indexes with "
                f"`python -m discover.store.recover {runs_dir}`")
    return (f"recover what is readable with `python -m discover.store.recover {runs_dir}` (keeps the damaged file "
            f"beside it), or `sqlite3 {path} .recover | sqlite3 recovered.db`")


def explain(exc: sqlite3.Error, path: Path, *, doing: str, readonly_reason: str = "",
            busy_timeout_s: float = 0.0) -> StoreError:
    """One line for a failed statement, by SQLite's error code."""
    code = getattr(exc, "sqlite_errorname", "") or ""
    text = str(exc)
    if code == "SQLITE_FULL" or "disk is full" in text:
        msg = f"disk full while {doing} {path}; everything recorded before is kept (free space, then resume the run)"
    elif code.startswith(("SQLITE_BUSY", "SQLITE_LOCKED")) or "database is locked" in text:
        msg = (f"run database {path} is locked by another process (waited {busy_timeout_s:g} s for its write to "
               "finish); try again when it is done")
    elif code.startswith("SQLITE_READONLY") or "readonly database" in text:
        msg = f"cannot write to {path}: {readonly_reason or 'it is read-only'}"
    elif code == "SQLITE_NOTADB" or "not a database" in text:
        msg = f"{path} is not a discover run database or is corrupt ({text})"
    elif code.startswith("SQLITE_CORRUPT") or "malformed" in text:
        msg = f"run database {path} is damaged ({text}, while {doing} it); {recover_hint(path)}"
    elif code.startswith("SQLITE_CANTOPEN"):
        msg = f"cannot open {path} ({text})"
    elif code.startswith("SQLITE_IOERR"):
        msg = f"I/O error while {doing} {path} ({text}); everything committed before is kept"
    else:
        msg = f"run database {path}: {text}"
    return StoreError(msg, path=str(path), sqlite_error=code)
