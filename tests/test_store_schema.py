"""Schema version 2: candidate meta, proposals, archive state, evaluations recorded once, and the in-place
migration of a version-1 store."""

import sqlite3

import pytest

from discover.errors import StoreError
from discover.store import Store
from discover.store.db import SCHEMA_VERSION

# The version-1 schema exactly as discover shipped it (commit 6f72821), to build old stores.
V1_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS runs (
    id TEXT PRIMARY KEY,
    problem TEXT NOT NULL,
    problem_dir TEXT NOT NULL,
    kind TEXT NOT NULL DEFAULT 'code',
    strategy TEXT NOT NULL,
    model TEXT NOT NULL,
    sandbox TEXT,
    config TEXT NOT NULL,              -- JSON of the validated run config
    status TEXT NOT NULL,              -- running | finished | stopped | crashed
    stop_reason TEXT,
    pid INTEGER,
    host TEXT,
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS candidates (
    id TEXT PRIMARY KEY,
    run_id TEXT NOT NULL REFERENCES runs(id),
    generation INTEGER NOT NULL,
    slot INTEGER NOT NULL,
    operator TEXT NOT NULL,
    parent_ids TEXT NOT NULL DEFAULT '[]', -- JSON list
    thought TEXT NOT NULL DEFAULT '',
    code TEXT NOT NULL,
    code_hash TEXT NOT NULL,
    llm_call_key TEXT,
    status TEXT NOT NULL,              -- pending | evaluated | rejected | duplicate
    reject_reason TEXT,
    train_score REAL,
    valid INTEGER NOT NULL DEFAULT 0,
    created_at REAL NOT NULL,
    UNIQUE (run_id, generation, slot)
);
CREATE INDEX IF NOT EXISTS candidates_run ON candidates(run_id);
CREATE INDEX IF NOT EXISTS candidates_hash ON candidates(run_id, code_hash);
CREATE TABLE IF NOT EXISTS evaluations (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    candidate_id TEXT NOT NULL REFERENCES candidates(id),
    split TEXT NOT NULL,               -- train | test
    instance_set TEXT NOT NULL,
    status TEXT NOT NULL,
    score REAL,
    instances TEXT NOT NULL DEFAULT '{}', -- JSON: id -> metrics
    error TEXT,
    traceback TEXT,
    stdout_tail TEXT,
    stderr_tail TEXT,
    duration_s REAL,
    created_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS evaluations_candidate ON evaluations(candidate_id);
CREATE TABLE IF NOT EXISTS llm_calls (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    run_id TEXT,
    key TEXT NOT NULL,
    model TEXT NOT NULL,
    role TEXT NOT NULL,
    messages TEXT NOT NULL,            -- JSON
    params TEXT NOT NULL,              -- JSON
    sample_index INTEGER NOT NULL,
    response TEXT,
    prompt_tokens INTEGER NOT NULL DEFAULT 0,
    completion_tokens INTEGER NOT NULL DEFAULT 0,
    cost_usd REAL NOT NULL DEFAULT 0,
    latency_s REAL NOT NULL DEFAULT 0,
    cached INTEGER NOT NULL DEFAULT 0,
    error TEXT,
    created_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS llm_calls_key ON llm_calls(key);
CREATE INDEX IF NOT EXISTS llm_calls_run ON llm_calls(run_id);
CREATE TABLE IF NOT EXISTS feedback (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    candidate_id TEXT NOT NULL REFERENCES candidates(id),
    run_id TEXT NOT NULL,
    text TEXT NOT NULL,
    created_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS feedback_candidate ON feedback(candidate_id);
"""


class _Result:
    def __init__(self, status="ok", score=1.0):
        self.status, self.score = status, score
        self.instances = {"a": {"score": score}}
        self.error = self.traceback = None
        self.stdout_tail = self.stderr_tail = ""
        self.duration_s = 0.1


def _run(store):
    return store.create_run(problem="tsp", problem_dir="/p", kind="code", strategy="eoh", model="fake/x",
                            sandbox="process", config={"generations": 2})


def _candidate(store, run_id, slot=0, **kw):
    return store.add_candidate(run_id=run_id, generation=0, slot=slot, operator="i1", parent_ids=[], thought="t",
                               code="def f(): pass\n", code_hash=f"h{slot}", llm_call_key=None, **kw)


def _v1_store(path):
    """A version-1 store with one run, one candidate and its train50 evaluation recorded twice (v1 allowed it)."""
    path.mkdir(exist_ok=True)
    conn = sqlite3.connect(path / "discover.db")
    conn.executescript(V1_SCHEMA)
    conn.execute("INSERT INTO meta VALUES ('app', 'discover'), ('schema_version', '1')")
    conn.execute("INSERT INTO runs (id, problem, problem_dir, kind, strategy, model, sandbox, config, status, pid, host,"
                 " created_at, updated_at) VALUES ('r1', 'tsp', '/p', 'code', 'eoh', 'fake/x', 'process', '{}', 'finished',"
                 " 1, 'h', 1.0, 2.0)")
    conn.execute("INSERT INTO candidates (id, run_id, generation, slot, operator, parent_ids, thought, code, code_hash,"
                 " status, train_score, valid, created_at) VALUES ('c1', 'r1', 0, 0, 'i1', '[]', 't', 'x', 'h', 'evaluated',"
                 " 5.0, 1, 1.0)")
    for score, created in ((9.0, 10.0), (5.0, 20.0), (7.0, 15.0)):
        conn.execute("INSERT INTO evaluations (candidate_id, split, instance_set, status, score, instances, created_at)"
                     " VALUES ('c1', 'train', 'train50', 'ok', ?, '{}', ?)", (score, created))
    conn.execute("INSERT INTO evaluations (candidate_id, split, instance_set, status, score, instances, created_at)"
                 " VALUES ('c1', 'test', 'test50', 'ok', 6.0, '{}', 30.0)")
    conn.commit()
    conn.close()


def _version(path):
    conn = sqlite3.connect(path / "discover.db")
    try:
        return conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()[0]
    finally:
        conn.close()


def test_a_new_store_has_the_current_schema(tmp_path):
    Store(tmp_path).close()
    assert _version(tmp_path) == str(SCHEMA_VERSION) == "2"


def test_version_1_store_is_migrated_in_place_keeping_the_newest_duplicate(tmp_path):
    _v1_store(tmp_path)
    store = Store(tmp_path, create=False)
    assert _version(tmp_path) == "2"
    assert store.get_candidate("c1").meta == {}
    assert store.get_run("r1").status == "finished"
    train = store.evaluations("c1", "train")
    assert [(e.score, e.created_at) for e in train] == [(5.0, 20.0)]  # newest of the three
    assert [e.score for e in store.evaluations("c1", "test")] == [6.0]
    assert store.add_evaluation("c1", "train", "train50", _Result(score=1.0)) is False
    assert store.proposals("r1") == [] and store.load_archive_state("r1") is None
    store.set_candidate_meta("c1", {"cell": [1, 2]})
    store.close()
    again = Store(tmp_path, create=False)  # a second open of the migrated store changes nothing
    assert again.get_candidate("c1").meta == {"cell": [1, 2]}
    assert len(again.evaluations("c1")) == 2


def test_version_1_store_opened_read_only_is_read_without_migrating(tmp_path):
    _v1_store(tmp_path)
    before = (tmp_path / "discover.db").read_bytes()
    store = Store(tmp_path, readonly=True)
    assert store.get_candidate("c1").meta == {}
    assert store.proposals("r1") == [] and store.load_archive_state("r1") is None
    assert len(store.evaluations("c1", "train")) == 3
    store.close()
    assert _version(tmp_path) == "1"
    assert (tmp_path / "discover.db").read_bytes() == before


def test_candidate_meta_is_stored_and_merged(tmp_path):
    store = Store(tmp_path)
    run_id = _run(store)
    plain = _candidate(store, run_id, slot=0)
    cid = _candidate(store, run_id, slot=1, meta={"cell": [3, 1], "params": {"a": 1.5}})
    assert store.get_candidate(plain).meta == {}
    merged = store.set_candidate_meta(cid, {"params": {"b": 2}, "island": 0})
    assert merged == {"cell": [3, 1], "params": {"b": 2}, "island": 0}  # top-level keys replaced, like dict.update
    store.close()
    assert Store(tmp_path, create=False).get_candidate(cid).meta == merged
    with pytest.raises(StoreError, match="no candidate"):
        Store(tmp_path).set_candidate_meta("nope", {"x": 1})


def test_an_evaluation_is_recorded_once(tmp_path):
    store = Store(tmp_path)
    cid = _candidate(store, _run(store))
    assert store.add_evaluation(cid, "train", "train50", _Result(score=3.0)) is True
    assert store.add_evaluation(cid, "train", "train50", _Result(score=99.0)) is False  # a retried evaluation
    assert store.add_evaluation(cid, "test", "train50", _Result(score=4.0)) is True  # another split
    assert store.add_evaluation(cid, "train", "train20", _Result(status="suspicious", score=-1.0)) is True
    assert store.add_evaluation(cid, "train", "train100", _Result(status="cancelled", score=None)) is True
    assert [(e.instance_set, e.score) for e in store.evaluations(cid, "train")] == [
        ("train50", 3.0), ("train20", -1.0), ("train100", None)]
    assert {e.status for e in store.evaluations(cid)} == {"ok", "suspicious", "cancelled"}


def test_proposals_are_idempotent_and_resume_sees_the_pending_ones(tmp_path):
    store = Store(tmp_path)
    run_id = _run(store)
    messages = [{"role": "user", "content": "write f"}]
    for idx in range(3):
        assert store.add_proposal(run_id, idx, operator="e1", parent_ids=["a", "b"], messages=messages, prefix="def f(",
                                  sample_index=idx, model="fake/x", meta={"temperature": 0.7}) is True
    assert store.add_proposal(run_id, 1, operator="m1", parent_ids=[], messages=[], prefix=None, sample_index=0,
                              model="other") is False
    cid = _candidate(store, run_id)
    store.finish_proposal(run_id, 0, status="answered", candidate_id=cid)
    store.finish_proposal(run_id, 0, status="done")  # keeps the candidate id
    store.finish_proposal(run_id, 2, status="failed")
    store.close()
    again = Store(tmp_path, create=False)
    rows = again.proposals(run_id)
    assert [(p.idx, p.status, p.candidate_id) for p in rows] == [(0, "done", cid), (1, "pending", None), (2, "failed", None)]
    pending = again.proposals(run_id, status="pending")
    assert [(p.idx, p.operator, p.model, p.parent_ids, p.messages, p.prefix, p.sample_index, p.meta) for p in pending] == [
        (1, "e1", "fake/x", ["a", "b"], messages, "def f(", 1, {"temperature": 0.7})]
    with pytest.raises(ValueError, match="not one of"):
        again.finish_proposal(run_id, 1, status="weird")
    with pytest.raises(StoreError, match="no proposal 7"):
        again.finish_proposal(run_id, 7, status="done")


def test_archive_state_round_trip_and_overwrite(tmp_path):
    store = Store(tmp_path)
    run_id = _run(store)
    assert store.load_archive_state(run_id) is None
    store.save_archive_state(run_id, {"kind": "islands", "members": [["a"], ["b", "c"]]})
    store.save_archive_state(run_id, {"kind": "islands", "members": [["a", "d"], ["b"]]})
    store.close()
    assert Store(tmp_path, create=False).load_archive_state(run_id) == {"kind": "islands", "members": [["a", "d"], ["b"]]}


def test_two_processes_opening_a_version_1_store_at_once_migrate_it_once(tmp_path):
    import subprocess
    import sys
    from pathlib import Path

    _v1_store(tmp_path)
    code = ("import sys; from discover.store import Store; s = Store(sys.argv[1], create=False); "
            "print(len(s.evaluations('c1', 'train')), s.schema_version)")
    repo = Path(__file__).resolve().parents[1]
    procs = [subprocess.Popen([sys.executable, "-c", code, str(tmp_path)], cwd=repo, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for _ in range(4)]
    results = [p.communicate(timeout=60) for p in procs]
    assert [p.returncode for p in procs] == [0, 0, 0, 0], [err for _, err in results]
    assert [out.split() for out, _ in results] == [["1", "2"]] * 4
    assert _version(tmp_path) == "2"
    columns = [r[1] for r in sqlite3.connect(tmp_path / "discover.db").execute("PRAGMA table_info(candidates)")]
    assert columns.count("meta") == 1


def test_a_damaged_version_1_store_is_refused_before_it_is_migrated(tmp_path):
    _v1_store(tmp_path)
    conn = sqlite3.connect(tmp_path / "discover.db")
    # An index that no longer matches its table: every row of evaluations is missing from it.
    conn.execute("PRAGMA writable_schema = ON")
    root = conn.execute("SELECT rootpage FROM sqlite_master WHERE name = 'evaluations_candidate'").fetchone()[0]
    conn.execute("UPDATE sqlite_master SET rootpage = ? WHERE name = 'evaluations_candidate'",
                 (conn.execute("SELECT rootpage FROM sqlite_master WHERE name = 'feedback_candidate'").fetchone()[0],))
    conn.commit()
    conn.close()
    assert root
    with pytest.raises(StoreError, match="is damaged"):
        Store(tmp_path, create=False)
    assert _version(tmp_path) == "1"
