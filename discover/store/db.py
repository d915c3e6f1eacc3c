"""SQLite run store (WAL): one database per runs directory, holding every run, candidate, evaluation, proposal,
LLM call, piece of feedback and archive state. Writes commit immediately so a crash or Ctrl-C loses nothing.
What it guarantees (crash, corruption, read-only, ownership, full disk) is in docs/store.md."""

from __future__ import annotations

import contextlib
import json
import logging
import os
import sqlite3
import threading
import time
import uuid
from collections.abc import Iterator
from importlib import resources
from pathlib import Path
from typing import Any
from urllib.parse import quote

from pydantic import BaseModel, Field

from discover.errors import RunLocked, StoreError
from discover.store import integrity
from discover.store.migrations import STEPS
from discover.store.owner import is_alive, process_started, this_host

SCHEMA_VERSION = 2
APP_ID = "discover"
DB_FILENAME = "discover.db"
PROPOSAL_STATUSES = ("pending", "answered", "done", "failed")
_log = logging.getLogger("discover.store")


class RunRow(BaseModel):
    id: str
    problem: str
    problem_dir: str
    kind: str
    strategy: str
    model: str
    sandbox: str | None
    config: dict[str, Any]
    status: str
    stop_reason: str | None
    pid: int | None
    host: str | None
    created_at: float
    updated_at: float
    owner_pid: int | None = None
    owner_host: str | None = None
    heartbeat_at: float | None = None


class CandidateRow(BaseModel):
    id: str
    run_id: str
    generation: int
    slot: int
    operator: str
    parent_ids: list[str]
    thought: str
    code: str
    code_hash: str
    llm_call_key: str | None
    status: str
    reject_reason: str | None
    train_score: float | None
    valid: bool
    created_at: float
    meta: dict[str, Any] = Field(default_factory=dict)


class EvaluationRow(BaseModel):
    id: int
    candidate_id: str
    split: str
    instance_set: str
    status: str
    score: float | None
    instances: dict[str, dict[str, Any]]
    error: str | None
    traceback: str | None
    stdout_tail: str | None
    stderr_tail: str | None
    duration_s: float | None
    created_at: float


class ProposalRow(BaseModel):
    run_id: str
    idx: int
    operator: str
    parent_ids: list[str]
    messages: list[dict[str, Any]]
    prefix: str | None
    sample_index: int
    model: str
    status: str
    candidate_id: str | None
    meta: dict[str, Any]
    created_at: float
    updated_at: float


def default_runs_dir() -> Path:
    return Path(os.environ.get("DISCOVER_RUNS_DIR", "runs"))


def new_id() -> str:
    return uuid.uuid4().hex[:12]


class Store:
    """One SQLite file per runs directory. Thread-safe: one connection guarded by a lock.

    create=True (writers starting a run) makes the runs dir (0700) and the database (0600) if missing.
    create=False (resume, review) requires an existing store and creates nothing; where the runs dir or the file is
    not writable it opens read-only. readonly=True never writes (SQLite `mode=ro`, `immutable=1` where the dir is
    read-only and no write-ahead log is pending).
    """

    def __init__(self, runs_dir: Path | str | None = None, *, create: bool = True, readonly: bool = False,
                 busy_timeout_s: float = 30.0) -> None:
        self.runs_dir = Path(runs_dir) if runs_dir is not None else default_runs_dir()
        self.path = self.runs_dir / DB_FILENAME
        self.busy_timeout_s = busy_timeout_s
        self.create = create
        self.readonly = readonly
        self.readonly_reason = "it was opened read-only (readonly=True)" if readonly else ""
        self._lock = threading.RLock()
        self._undecodable = 0
        if readonly or not create:
            if not self.path.is_file():
                raise StoreError(f"no run database at {self.path} (run `discover evolve` first, or pass --runs-dir)",
                                 path=str(self.path))
            if not readonly and not _writable(self.path):
                self.readonly, self.readonly_reason = True, _readonly_reason(self.path)
        else:
            self._create_files()
        self._conn = self._open()

    # -- opening and schema -------------------------------------------------
    def _create_files(self) -> None:
        """The runs dir 0700 and the database file 0600: a sandboxed candidate under another uid cannot read them."""
        try:
            self.runs_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        except OSError as exc:
            raise StoreError(f"cannot create the runs directory {self.runs_dir}: {exc.strerror}", path=str(self.path)) from exc
        if not _writable(self.path):
            raise StoreError(f"{_readonly_reason(self.path)}; discover must write its run database there "
                             "(pass --runs-dir to a writable folder)", path=str(self.path))
        try:
            os.close(os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
        except FileExistsError:
            pass
        except OSError as exc:
            raise StoreError(f"cannot create {self.path}: {exc.strerror}", path=str(self.path)) from exc

    def _connect(self) -> sqlite3.Connection:
        if self.readonly:
            query = "mode=ro"
            if not os.access(self.runs_dir, os.W_OK):
                wal, shm = Path(f"{self.path}-wal"), Path(f"{self.path}-shm")
                if not wal.exists() or wal.stat().st_size == 0:
                    query += "&immutable=1"  # no -shm can be created here, and no pending log to miss
                elif not shm.exists():
                    # immutable=1 would ignore the log and show the store as it was before its last writes.
                    raise StoreError(f"{self.path} has an unfinished write-ahead log ({wal.name}) and {self.runs_dir} is "
                                     "read-only; open it once where it is writable (or copy the folder) to read its last writes",
                                     path=str(self.path))
            uri = f"file:{quote(str(self.path.absolute()))}?{query}"
            conn = sqlite3.connect(uri, uri=True, check_same_thread=False, timeout=self.busy_timeout_s, isolation_level=None)
            conn.execute("PRAGMA query_only=1")
        else:
            conn = sqlite3.connect(self.path, check_same_thread=False, timeout=self.busy_timeout_s, isolation_level=None)
        conn.row_factory = sqlite3.Row
        conn.text_factory = self._decode
        return conn

    def _open(self) -> sqlite3.Connection:
        try:
            conn = self._connect()
            conn.execute("PRAGMA foreign_keys=ON")
            tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        except sqlite3.Error as exc:
            raise self._error(exc, "opening") from exc
        try:
            # Nothing is written before the file is known to be ours (create=False on an empty file writes nothing).
            self.schema_version = self._check_identity(conn, tables)
            if not self.readonly:
                try:
                    conn.execute("PRAGMA journal_mode=WAL")
                    conn.execute("PRAGMA synchronous=NORMAL")
                except sqlite3.Error as exc:
                    raise self._error(exc, "opening") from exc
            # Writers check in full at every open; a reader trusts a store unchanged since a full check passed.
            # Before any migration: a damaged file is not written to.
            self.checked = integrity.check_once(conn, self.path, trust_unchanged=self.readonly)
            if not self.readonly and self.schema_version < SCHEMA_VERSION:
                self.schema_version = self._migrate(conn)
        except BaseException:
            conn.close()
            raise
        return conn

    def _check_identity(self, conn: sqlite3.Connection, tables: set[str]) -> int:
        """The schema version of a discover store; 0 for an empty SQLite file (new, or being created right now)."""
        if not tables:
            if self.readonly or not self.create:
                raise StoreError(f"no run database at {self.path} yet (the file holds no tables)", path=str(self.path))
            return 0
        if "meta" not in tables:
            raise StoreError(f"{self.path} is a SQLite file but not a discover run database (no meta table)", path=str(self.path))
        try:
            meta = dict(conn.execute("SELECT key, value FROM meta").fetchall())
        except sqlite3.Error as exc:
            raise self._error(exc, "opening") from exc
        if meta.get("app") != APP_ID:
            raise StoreError(f"{self.path} belongs to another application ({meta.get('app')!r})", path=str(self.path))
        try:
            version = int(meta.get("schema_version", "0"))
        except ValueError:
            raise StoreError(f"{self.path}: schema version {meta.get('schema_version')!r} is not a number; the meta "
                             "table is damaged", path=str(self.path)) from None
        if version > SCHEMA_VERSION:
            raise StoreError(f"{self.path} has schema version {version}, newer than this discover ({SCHEMA_VERSION}); "
                             "upgrade discover", path=str(self.path))
        return version

    def _migrate(self, conn: sqlite3.Connection) -> int:
        """Create (version 0) or upgrade the schema in one transaction; another process may be doing the same."""
        try:
            conn.execute("BEGIN IMMEDIATE")
            try:
                row = conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
            except sqlite3.OperationalError:
                row = None  # no meta table: a new store
            version = int(row[0]) if row else 0
            if version:
                for step in range(version, SCHEMA_VERSION):
                    STEPS[step](conn)
            for statement in _schema_statements():
                conn.execute(statement)
            conn.execute("INSERT OR IGNORE INTO meta VALUES ('app', ?)", (APP_ID,))
            conn.execute("INSERT OR REPLACE INTO meta VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),))
            conn.execute("COMMIT")
        except sqlite3.Error as exc:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise self._error(exc, "upgrading the schema of") from exc
        return SCHEMA_VERSION

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    @staticmethod
    def recover(runs_dir: Path | str):
        """Repair a damaged store in place (see discover.store.recover); returns what was done and lost."""
        from discover.store.recover import recover

        return recover(runs_dir)

    # -- low-level access: every sqlite3 error becomes one StoreError line ----
    def _decode(self, raw: bytes) -> str:
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError:
            # Only damage or another program writes such bytes. Show the text, keep the stored bytes, say it once.
            self._undecodable += 1
            if self._undecodable == 1:
                _log.warning("warning: %s holds text that is not valid UTF-8 (shown with \ufffd; the stored bytes are "
                             "unchanged)", self.path)
            return raw.decode("utf-8", "replace")

    def _error(self, exc: sqlite3.Error, doing: str) -> StoreError:
        return integrity.explain(exc, self.path, doing=doing, readonly_reason=self.readonly_reason,
                                 busy_timeout_s=self.busy_timeout_s)

    def _exec(self, sql: str, params: tuple | dict = ()) -> sqlite3.Cursor:
        with self._lock:
            try:
                return self._conn.execute(sql, params)
            except sqlite3.Error as exc:
                raise self._error(exc, "writing to" if _is_write(sql) else "reading") from exc

    def _all(self, sql: str, params: tuple | dict = ()) -> list[sqlite3.Row]:
        with self._lock:
            try:
                return self._conn.execute(sql, params).fetchall()
            except sqlite3.Error as exc:
                raise self._error(exc, "reading") from exc

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        """BEGIN IMMEDIATE: the write lock is taken before the first read, so read-modify-write is atomic across
        processes."""
        with self._lock:
            try:
                self._conn.execute("BEGIN IMMEDIATE")
                try:
                    yield self._conn
                except BaseException:
                    self._conn.execute("ROLLBACK")
                    raise
                self._conn.execute("COMMIT")
            except sqlite3.Error as exc:
                if self._conn.in_transaction:
                    self._conn.execute("ROLLBACK")
                raise self._error(exc, "writing to") from exc

    def _json(self, text: str | None, what: str, default: Any) -> Any:
        if text is None:
            return default
        try:
            return json.loads(text)
        except ValueError as exc:
            raise StoreError(f"{self.path}: {what} is not valid JSON ({exc}); that row was damaged or written by "
                             "another program", path=str(self.path)) from exc

    # -- runs ----------------------------------------------------------------
    def create_run(self, *, problem: str, problem_dir: str, kind: str, strategy: str, model: str,
                   sandbox: str | None, config: dict[str, Any], run_id: str | None = None) -> str:
        run_id = run_id or time.strftime("%Y%m%d-%H%M%S-") + uuid.uuid4().hex[:4]
        now = time.time()
        self._exec(
            "INSERT INTO runs (id, problem, problem_dir, kind, strategy, model, sandbox, config, status, pid, host, created_at, updated_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'running', ?, ?, ?, ?)",
            (run_id, problem, problem_dir, kind, strategy, model, sandbox, json.dumps(config), os.getpid(), this_host(), now, now),
        )
        return run_id

    def set_run_status(self, run_id: str, status: str, stop_reason: str | None = None, **fields: Any) -> None:
        sets = ["status = ?", "stop_reason = ?", "updated_at = ?"]
        params: list[Any] = [status, stop_reason, time.time()]
        for name, value in fields.items():
            if name not in {"pid", "sandbox", "config", "host"}:
                raise ValueError(name)
            sets.append(f"{name} = ?")
            params.append(json.dumps(value) if name == "config" else value)
        self._exec(f"UPDATE runs SET {', '.join(sets)} WHERE id = ?", (*params, run_id))

    def _run_row(self, row: sqlite3.Row) -> RunRow:
        data = dict(row)
        data["config"] = self._json(data["config"], f"run {data['id']}'s config", {})
        if data["status"] == "running":
            owner = _owner(data)
            if owner is None or is_alive(*owner) is False:
                data["status"] = "crashed"
        return RunRow(**data)

    def get_run(self, run_id: str) -> RunRow:
        rows = self._all("SELECT * FROM runs WHERE id = ?", (run_id,))
        if not rows:
            rows = self._all("SELECT * FROM runs WHERE id LIKE ?", (run_id + "%",))
            if len(rows) > 1:
                raise StoreError(f"run id {run_id!r} is ambiguous: {', '.join(r['id'] for r in rows[:5])}")
        if not rows:
            raise StoreError(f"no run {run_id!r} in {self.path}")
        return self._run_row(rows[0])

    def list_runs(self) -> list[RunRow]:
        return [self._run_row(r) for r in self._all("SELECT * FROM runs ORDER BY created_at")]

    # -- run ownership ----------------------------------------------------------
    def claim_run(self, run_id: str, *, takeover: bool = False) -> None:
        """Make this process the run's one owner. Raises RunLocked while another live process owns it; an owner
        that is dead (same host) is replaced silently, one on another host only with takeover=True."""
        pid, host = os.getpid(), this_host()
        with self._transaction() as conn:
            row = conn.execute("SELECT * FROM runs WHERE id = ?", (run_id,)).fetchone()
            if row is None:
                raise StoreError(f"no run {run_id!r} in {self.path}")
            owner = _owner(dict(row), recorded_pid=False)
            if owner and owner[:2] != (pid, host) and not takeover and is_alive(*owner) is not False:
                raise RunLocked(_locked_message(run_id, owner, row["heartbeat_at"]), run_id=run_id,
                                owner_pid=owner[0], owner_host=owner[1])
            now = time.time()
            conn.execute("UPDATE runs SET owner_pid = ?, owner_host = ?, owner_started = ?, heartbeat_at = ?, pid = ?,"
                         " host = ? WHERE id = ?", (pid, host, process_started(pid), now, pid, host, run_id))

    def heartbeat(self, run_id: str) -> None:
        """Record that the owner is alive. Raises RunLocked if another process has taken the run over."""
        cur = self._exec("UPDATE runs SET heartbeat_at = ? WHERE id = ? AND owner_pid = ? AND owner_host = ?",
                         (time.time(), run_id, os.getpid(), this_host()))
        if cur.rowcount == 0:
            row = self._all("SELECT * FROM runs WHERE id = ?", (run_id,))
            owner = _owner(dict(row[0])) if row else None
            who = f"pid {owner[0]} on host {owner[1]}" if owner else "nobody"
            raise RunLocked(f"run {run_id} is no longer owned by this process (now: {who}); stop this one", run_id=run_id)

    def release_run(self, run_id: str) -> bool:
        """Give the run up (at its end). False if this process did not own it."""
        cur = self._exec("UPDATE runs SET owner_pid = NULL, owner_host = NULL, owner_started = NULL, heartbeat_at = ?"
                         " WHERE id = ? AND owner_pid = ? AND owner_host = ?", (time.time(), run_id, os.getpid(), this_host()))
        return cur.rowcount == 1

    # -- candidates -----------------------------------------------------------
    def add_candidate(self, *, run_id: str, generation: int, slot: int, operator: str, parent_ids: list[str],
                      thought: str, code: str, code_hash: str, llm_call_key: str | None, status: str = "pending",
                      reject_reason: str | None = None, meta: dict[str, Any] | None = None) -> str:
        cid = new_id()
        self._exec(
            "INSERT INTO candidates (id, run_id, generation, slot, operator, parent_ids, thought, code, code_hash, llm_call_key,"
            " status, reject_reason, created_at, meta) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (cid, run_id, generation, slot, operator, json.dumps(parent_ids), thought, code, code_hash, llm_call_key,
             status, reject_reason, time.time(), json.dumps(meta or {})),
        )
        return cid

    def finish_candidate(self, cid: str, *, status: str, train_score: float | None, valid: bool,
                         reject_reason: str | None = None) -> None:
        self._exec("UPDATE candidates SET status = ?, train_score = ?, valid = ?, reject_reason = ? WHERE id = ?",
                   (status, train_score, int(valid), reject_reason, cid))

    def set_candidate_meta(self, cid: str, meta: dict[str, Any]) -> dict[str, Any]:
        """Merge `meta`'s keys into the candidate's stored dict (like dict.update); returns the merged dict."""
        with self._transaction() as conn:
            row = conn.execute("SELECT meta FROM candidates WHERE id = ?", (cid,)).fetchone()
            if row is None:
                raise StoreError(f"no candidate {cid!r} in {self.path}")
            merged = {**self._json(row["meta"], f"candidate {cid}'s meta", {}), **meta}
            conn.execute("UPDATE candidates SET meta = ? WHERE id = ?", (json.dumps(merged), cid))
        return merged

    def _candidate_row(self, row: sqlite3.Row) -> CandidateRow:
        data = dict(row)
        data["parent_ids"] = self._json(data["parent_ids"], f"candidate {data['id']}'s parent_ids", [])
        data["meta"] = self._json(data.get("meta"), f"candidate {data['id']}'s meta", {})
        return CandidateRow(**data)

    def candidates(self, run_id: str | None = None) -> list[CandidateRow]:
        if run_id is None:
            rows = self._all("SELECT * FROM candidates ORDER BY created_at")
        else:
            rows = self._all("SELECT * FROM candidates WHERE run_id = ? ORDER BY generation, slot", (run_id,))
        return [self._candidate_row(r) for r in rows]

    def get_candidate(self, cid: str) -> CandidateRow:
        """Exact id or a unique prefix (like git)."""
        rows = self._all("SELECT * FROM candidates WHERE id LIKE ? LIMIT 6", (cid + "%",))
        if not rows:
            raise StoreError(f"no candidate {cid!r} in {self.path}")
        exact = [r for r in rows if r["id"] == cid]
        if exact:
            return self._candidate_row(exact[0])
        if len(rows) > 1:
            raise StoreError(f"candidate id {cid!r} is ambiguous: matches {', '.join(r['id'] for r in rows[:5])}")
        return self._candidate_row(rows[0])

    # -- evaluations ----------------------------------------------------------
    def add_evaluation(self, candidate_id: str, split: str, instance_set: str, result: Any) -> bool:
        """`result` is a sandbox EvalResult (or anything with the same attributes). Each (candidate, split, set) is
        recorded once: True if this call recorded it, False if it was already recorded (a retried evaluation)."""
        cur = self._exec(
            "INSERT INTO evaluations (candidate_id, split, instance_set, status, score, instances, error, traceback,"
            " stdout_tail, stderr_tail, duration_s, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
            " ON CONFLICT (candidate_id, split, instance_set) DO NOTHING",
            (candidate_id, split, instance_set, result.status, result.score, json.dumps(result.instances), result.error,
             result.traceback, result.stdout_tail, result.stderr_tail, result.duration_s, time.time()),
        )
        return cur.rowcount == 1

    def evaluations(self, candidate_id: str, split: str | None = None) -> list[EvaluationRow]:
        sql = "SELECT * FROM evaluations WHERE candidate_id = ?"
        params: tuple = (candidate_id,)
        if split:
            sql += " AND split = ?"
            params += (split,)
        out = []
        for r in self._all(sql + " ORDER BY id", params):
            data = dict(r)
            data["instances"] = self._json(data["instances"], f"evaluation {data['id']}'s instances", {})
            out.append(EvaluationRow(**data))
        return out

    # -- proposals: persisted before their LLM call -----------------------------
    def add_proposal(self, run_id: str, idx: int, *, operator: str, parent_ids: list[str], messages: list[dict[str, Any]],
                     prefix: str | None, sample_index: int, model: str, meta: dict[str, Any] | None = None) -> bool:
        """Record proposal `idx` of a run as pending. False (and nothing changed) if it is already recorded."""
        now = time.time()
        cur = self._exec(
            "INSERT INTO proposals (run_id, idx, operator, parent_ids, messages, prefix, sample_index, model, status,"
            " meta, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'pending', ?, ?, ?)"
            " ON CONFLICT (run_id, idx) DO NOTHING",
            (run_id, idx, operator, json.dumps(parent_ids), json.dumps(messages), prefix, sample_index, model,
             json.dumps(meta or {}), now, now),
        )
        return cur.rowcount == 1

    def finish_proposal(self, run_id: str, idx: int, *, status: str, candidate_id: str | None = None) -> None:
        """Move a proposal on (answered, done, failed); a candidate id once set is kept when none is given."""
        if status not in PROPOSAL_STATUSES:
            raise ValueError(f"proposal status {status!r} is not one of {', '.join(PROPOSAL_STATUSES)}")
        cur = self._exec("UPDATE proposals SET status = ?, candidate_id = COALESCE(?, candidate_id), updated_at = ?"
                         " WHERE run_id = ? AND idx = ?", (status, candidate_id, time.time(), run_id, idx))
        if cur.rowcount == 0:
            raise StoreError(f"no proposal {idx} of run {run_id!r} in {self.path}")

    def proposals(self, run_id: str, status: str | None = None) -> list[ProposalRow]:
        if self.schema_version < 2:
            return []  # an old store opened read-only: it has no proposals table
        sql, params = "SELECT * FROM proposals WHERE run_id = ?", (run_id,)
        if status is not None:
            sql, params = sql + " AND status = ?", (run_id, status)
        out = []
        for r in self._all(sql + " ORDER BY idx", params):
            data = dict(r)
            what = f"proposal {data['idx']} of run {run_id}"
            data["parent_ids"] = self._json(data["parent_ids"], f"{what}'s parent_ids", [])
            data["messages"] = self._json(data["messages"], f"{what}'s messages", [])
            data["meta"] = self._json(data["meta"], f"{what}'s meta", {})
            out.append(ProposalRow(**data))
        return out

    # -- archive state ------------------------------------------------------------
    def save_archive_state(self, run_id: str, state: dict[str, Any]) -> None:
        self._exec("INSERT INTO archive_state (run_id, state, updated_at) VALUES (?, ?, ?) ON CONFLICT (run_id) DO UPDATE"
                   " SET state = excluded.state, updated_at = excluded.updated_at", (run_id, json.dumps(state), time.time()))

    def load_archive_state(self, run_id: str) -> dict[str, Any] | None:
        if self.schema_version < 2:
            return None
        rows = self._all("SELECT state FROM archive_state WHERE run_id = ?", (run_id,))
        return self._json(rows[0]["state"], f"run {run_id}'s archive state", None) if rows else None

    # -- feedback -------------------------------------------------------------
    def add_feedback(self, run_id: str, candidate_id: str, text: str) -> None:
        self._exec("INSERT INTO feedback (candidate_id, run_id, text, created_at) VALUES (?, ?, ?, ?)",
                   (candidate_id, run_id, text, time.time()))

    def feedback_for(self, candidate_id: str) -> str | None:
        rows = self._all("SELECT text FROM feedback WHERE candidate_id = ? ORDER BY id DESC LIMIT 1", (candidate_id,))
        return rows[0]["text"] if rows else None

    # -- llm calls --------------------------------------------------------------
    def run_llm_totals(self, run_id: str) -> dict[str, float]:
        row = self._all(
            "SELECT COUNT(*) AS calls, COALESCE(SUM(prompt_tokens), 0) AS prompt_tokens,"
            " COALESCE(SUM(completion_tokens), 0) AS completion_tokens, COALESCE(SUM(cost_usd), 0) AS cost_usd"
            " FROM llm_calls WHERE run_id = ? AND cached = 0 AND error IS NULL",
            (run_id,),
        )[0]
        return dict(row)

    def llm_calls(self, run_id: str) -> Iterator[sqlite3.Row]:
        return iter(self._all("SELECT * FROM llm_calls WHERE run_id = ? ORDER BY id", (run_id,)))


def _schema_statements() -> list[str]:
    """schema.sql split into statements (executescript would commit the open transaction)."""
    statements, current = [], ""
    for line in resources.files("discover.store").joinpath("schema.sql").read_text().splitlines(keepends=True):
        current += line
        if sqlite3.complete_statement(current):
            statements.append(current.strip())
            current = ""
    return statements  # a trailing comment, never complete, is dropped


def _owner(run: dict[str, Any], *, recorded_pid: bool = True) -> tuple[int, str | None, float | None] | None:
    """(pid, host, start time) of the process that owns the run (claim_run); with recorded_pid, for a run never
    claimed, the process recorded as running it (what decides 'crashed')."""
    if run.get("owner_pid") is not None:
        return run["owner_pid"], run["owner_host"], run.get("owner_started")
    if recorded_pid and run.get("status") == "running" and run.get("pid") is not None:
        return run["pid"], run.get("host"), None
    return None


def _locked_message(run_id: str, owner: tuple[int, str | None, float | None], heartbeat_at: float | None) -> str:
    beat = f" (last heartbeat {_ago(heartbeat_at)})" if heartbeat_at else ""
    return (f"run {run_id} is being run by pid {owner[0]} on host {owner[1]}{beat}; stop it, or pass --takeover if it is dead")


def _ago(t: float) -> str:
    s = max(0.0, time.time() - t)
    return f"{s:.0f} s ago" if s < 120 else f"{s / 60:.0f} min ago" if s < 7200 else f"{s / 3600:.1f} h ago"


def _writable(path: Path) -> bool:
    """Whether this process can write the database there (os.access knows read-only mounts; root passes chmod)."""
    folder = path.parent
    if not folder.exists():
        return _writable(folder) if folder != folder.parent else False
    if not os.access(folder, os.W_OK):
        return False
    return not path.exists() or os.access(path, os.W_OK)


def _readonly_reason(path: Path) -> str:
    folder = path.parent
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    if not os.access(folder, os.W_OK):
        return f"the runs directory {folder} is read-only"
    return f"{path} is read-only"


def _is_write(sql: str) -> bool:
    return sql.lstrip().split(None, 1)[0].upper() in {"INSERT", "UPDATE", "DELETE", "REPLACE", "CREATE", "DROP", "ALTER"}
