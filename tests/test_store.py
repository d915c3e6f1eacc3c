import sqlite3

import pytest

from discover.errors import StoreError
from discover.store import Store


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


def test_round_trip_candidate_evaluation_feedback(tmp_path):
    store = Store(tmp_path)
    run_id = _run(store)
    cid = store.add_candidate(run_id=run_id, generation=1, slot=2, operator="m1", parent_ids=["p1"], thought="t",
                              code="def f(): pass\n", code_hash="h", llm_call_key="k")
    store.add_evaluation(cid, "train", "train50", _Result(score=3.5))
    store.finish_candidate(cid, status="evaluated", train_score=3.5, valid=True)
    store.add_feedback(run_id, cid, "Do more of: x")
    store.close()
    again = Store(tmp_path, create=False)
    c = again.get_candidate(cid)
    assert (c.generation, c.slot, c.parent_ids, c.train_score, c.valid) == (1, 2, ["p1"], 3.5, True)
    assert again.evaluations(cid, "train")[0].instances == {"a": {"score": 3.5}}
    assert again.feedback_for(cid) == "Do more of: x"
    assert again.get_run(run_id).config == {"generations": 2}


def test_id_prefixes_like_git(tmp_path):
    store = Store(tmp_path)
    run_id = _run(store)
    ids = [store.add_candidate(run_id=run_id, generation=0, slot=i, operator="i1", parent_ids=[], thought="",
                               code="x", code_hash=str(i), llm_call_key=None) for i in range(40)]
    target = ids[0]
    assert store.get_candidate(target[:8]).id == target
    # 40 random hex ids: some share a first character, which must be reported as ambiguous.
    first_chars = [i[0] for i in ids]
    shared = next(ch for ch in first_chars if first_chars.count(ch) > 1)
    with pytest.raises(StoreError, match="ambiguous"):
        store.get_candidate(shared)
    with pytest.raises(StoreError, match="no candidate"):
        store.get_candidate("zzzz")


def test_crashed_run_is_reported_as_crashed(tmp_path):
    store = Store(tmp_path)
    run_id = _run(store)
    assert store.get_run(run_id).status == "running"  # this process is alive
    store.set_run_status(run_id, "running", None, pid=2**22 + 12345)  # no such process
    assert store.get_run(run_id).status == "crashed"


def test_corrupt_database_gives_clear_error(tmp_path):
    (tmp_path / "discover.db").write_bytes(b"this is not sqlite at all" * 100)
    with pytest.raises(StoreError, match="not a discover run database or is corrupt"):
        Store(tmp_path)


def test_foreign_sqlite_database_is_refused(tmp_path):
    conn = sqlite3.connect(tmp_path / "discover.db")
    conn.execute("CREATE TABLE songs (title TEXT)")
    conn.commit()
    conn.close()
    with pytest.raises(StoreError, match="not a discover run database"):
        Store(tmp_path)


def test_an_sqlite_file_without_tables_is_initialised_not_refused(tmp_path):
    # What a reader sees while another process is still creating the schema.
    conn = sqlite3.connect(tmp_path / "discover.db")
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA user_version=0")
    conn.commit()
    conn.close()
    assert (tmp_path / "discover.db").stat().st_size > 0
    store = Store(tmp_path)
    assert store.list_runs() == []


def test_newer_schema_is_refused(tmp_path):
    Store(tmp_path).close()
    conn = sqlite3.connect(tmp_path / "discover.db")
    conn.execute("UPDATE meta SET value = '99' WHERE key = 'schema_version'")
    conn.commit()
    conn.close()
    with pytest.raises(StoreError, match="newer than this discover"):
        Store(tmp_path)


def test_missing_database_without_create(tmp_path):
    with pytest.raises(StoreError, match="no run database"):
        Store(tmp_path / "nothing", create=False)
