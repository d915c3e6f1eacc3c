"""SQLite run store (WAL): one database per runs directory, holding every run, candidate, evaluation,
LLM call and piece of feedback. Writes commit immediately so a crash or Ctrl-C loses nothing."""

from __future__ import annotations

import json
import os
import socket
import sqlite3
import threading
import time
import uuid
from importlib import resources
from pathlib import Path
from typing import Any, Iterator

from pydantic import BaseModel

from discover.errors import StoreError

SCHEMA_VERSION = 1
APP_ID = "discover"
DB_FILENAME = "discover.db"


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


def default_runs_dir() -> Path:
    return Path(os.environ.get("DISCOVER_RUNS_DIR", "runs"))


def new_id() -> str:
    return uuid.uuid4().hex[:12]


class Store:
    """One SQLite file per runs directory. Thread-safe: one connection guarded by a lock."""

    def __init__(self, runs_dir: Path | str | None = None, *, create: bool = True) -> None:
        self.runs_dir = Path(runs_dir) if runs_dir is not None else default_runs_dir()
        self.path = self.runs_dir / DB_FILENAME
        if not self.path.exists() and not create:
            raise StoreError(f"no run database at {self.path} (run `discover evolve` first, or pass --runs-dir)", path=str(self.path))
        self.runs_dir.mkdir(parents=True, exist_ok=True)
        self._lock = threading.RLock()
        self._conn = self._open()

    # -- opening and schema -------------------------------------------------
    def _open(self) -> sqlite3.Connection:
        existed = self.path.exists() and self.path.stat().st_size > 0
        try:
            conn = sqlite3.connect(self.path, check_same_thread=False, timeout=30, isolation_level=None)
            conn.row_factory = sqlite3.Row
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute("PRAGMA foreign_keys=ON")
            tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        except sqlite3.DatabaseError as exc:
            raise StoreError(f"{self.path} is not a discover run database or is corrupt ({exc})", path=str(self.path)) from exc
        # A file with no tables is new (or another process is creating the schema right now): initialise it.
        if existed and tables and "meta" not in tables:
            raise StoreError(f"{self.path} is a SQLite file but not a discover run database (no meta table)", path=str(self.path))
        if "meta" in tables:
            meta = dict(conn.execute("SELECT key, value FROM meta").fetchall())
            if meta.get("app") != APP_ID:
                raise StoreError(f"{self.path} belongs to another application ({meta.get('app')!r})", path=str(self.path))
            version = int(meta.get("schema_version", "0"))
            if version > SCHEMA_VERSION:
                raise StoreError(
                    f"{self.path} has schema version {version}, newer than this discover ({SCHEMA_VERSION}); upgrade discover",
                    path=str(self.path),
                )
        try:
            conn.executescript(resources.files("discover.store").joinpath("schema.sql").read_text())
            conn.execute("INSERT OR IGNORE INTO meta VALUES ('app', ?)", (APP_ID,))
            conn.execute("INSERT OR IGNORE INTO meta VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),))
            conn.execute("PRAGMA quick_check").fetchone()
        except sqlite3.DatabaseError as exc:
            raise StoreError(f"{self.path} is corrupt ({exc}); move it aside to start a new one", path=str(self.path)) from exc
        return conn

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    def _exec(self, sql: str, params: tuple | dict = ()) -> sqlite3.Cursor:
        with self._lock:
            try:
                return self._conn.execute(sql, params)
            except sqlite3.DatabaseError as exc:
                raise StoreError(f"run database {self.path}: {exc}", path=str(self.path)) from exc

    def _all(self, sql: str, params: tuple | dict = ()) -> list[sqlite3.Row]:
        with self._lock:
            return self._exec(sql, params).fetchall()

    # -- runs ----------------------------------------------------------------
    def create_run(self, *, problem: str, problem_dir: str, kind: str, strategy: str, model: str,
                   sandbox: str | None, config: dict[str, Any], run_id: str | None = None) -> str:
        run_id = run_id or time.strftime("%Y%m%d-%H%M%S-") + uuid.uuid4().hex[:4]
        now = time.time()
        self._exec(
            "INSERT INTO runs (id, problem, problem_dir, kind, strategy, model, sandbox, config, status, pid, host, created_at, updated_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'running', ?, ?, ?, ?)",
            (run_id, problem, problem_dir, kind, strategy, model, sandbox, json.dumps(config), os.getpid(), socket.gethostname(), now, now),
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
        data["config"] = json.loads(data["config"])
        if data["status"] == "running" and not _process_alive(data["pid"], data["host"]):
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

    # -- candidates -----------------------------------------------------------
    def add_candidate(self, *, run_id: str, generation: int, slot: int, operator: str, parent_ids: list[str],
                      thought: str, code: str, code_hash: str, llm_call_key: str | None, status: str = "pending",
                      reject_reason: str | None = None) -> str:
        cid = new_id()
        self._exec(
            "INSERT INTO candidates (id, run_id, generation, slot, operator, parent_ids, thought, code, code_hash, llm_call_key,"
            " status, reject_reason, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (cid, run_id, generation, slot, operator, json.dumps(parent_ids), thought, code, code_hash, llm_call_key,
             status, reject_reason, time.time()),
        )
        return cid

    def finish_candidate(self, cid: str, *, status: str, train_score: float | None, valid: bool,
                         reject_reason: str | None = None) -> None:
        self._exec("UPDATE candidates SET status = ?, train_score = ?, valid = ?, reject_reason = ? WHERE id = ?",
                   (status, train_score, int(valid), reject_reason, cid))

    @staticmethod
    def _candidate_row(row: sqlite3.Row) -> CandidateRow:
        data = dict(row)
        data["parent_ids"] = json.loads(data["parent_ids"])
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
    def add_evaluation(self, candidate_id: str, split: str, instance_set: str, result: Any) -> None:
        """`result` is a sandbox EvalResult (or anything with the same attributes)."""
        self._exec(
            "INSERT INTO evaluations (candidate_id, split, instance_set, status, score, instances, error, traceback,"
            " stdout_tail, stderr_tail, duration_s, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (candidate_id, split, instance_set, result.status, result.score, json.dumps(result.instances), result.error,
             result.traceback, result.stdout_tail, result.stderr_tail, result.duration_s, time.time()),
        )

    def evaluations(self, candidate_id: str, split: str | None = None) -> list[EvaluationRow]:
        sql = "SELECT * FROM evaluations WHERE candidate_id = ?"
        params: tuple = (candidate_id,)
        if split:
            sql += " AND split = ?"
            params += (split,)
        rows = self._all(sql + " ORDER BY id", params)
        out = []
        for r in rows:
            data = dict(r)
            data["instances"] = json.loads(data["instances"])
            out.append(EvaluationRow(**data))
        return out

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


def _process_alive(pid: int | None, host: str | None) -> bool:
    if pid is None:
        return False
    if host and host != socket.gethostname():
        return True  # cannot tell from here; trust the record
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
