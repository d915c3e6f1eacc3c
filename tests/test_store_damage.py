"""A damaged run database is reported in one line that says what is damaged and what can be recovered; it never
yields wrong numbers; discover.store.recover repairs it."""

import logging
import os
import random
import sqlite3
import subprocess
import sys

import pytest

from discover.errors import StoreError
from discover.store import Store
from discover.store.call_log import StoreCallLog
from discover.store.recover import recover


class _Result:
    def __init__(self, score):
        self.status, self.score = "ok", score
        self.instances = {"a": {"score": score}}
        self.error = self.traceback = None
        self.stdout_tail = self.stderr_tail = ""
        self.duration_s = 0.1


def _store_with_test_scores(runs_dir, n=300):
    """n candidates, candidate k with one test evaluation scoring k."""
    store = Store(runs_dir)
    run_id = store.create_run(problem="tsp", problem_dir="/p", kind="code", strategy="eoh", model="m", sandbox=None,
                              config={})
    cids = []
    for k in range(n):
        cid = store.add_candidate(run_id=run_id, generation=k, slot=0, operator="e1", parent_ids=[], thought="",
                                  code="x" * 50, code_hash=str(k), llm_call_key=None)
        store.add_evaluation(cid, "test", "test50", _Result(float(k)))
        cids.append(cid)
    store.close()
    return cids


def _pages_of(db, name, pagetype="%"):
    conn = sqlite3.connect(db)
    try:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        pages = [r[0] for r in conn.execute("SELECT pageno FROM dbstat WHERE name = ? AND pagetype LIKE ? ORDER BY pageno",
                                            (name, pagetype))]
        return pages, conn.execute("PRAGMA page_size").fetchone()[0]
    finally:
        conn.close()


def _stale_index(runs_dir, cids):
    """Every candidate's test row is moved to the next candidate, then the evaluations index's pages are put back
    as they were before: structurally valid pages (quick_check passes) pointing at the wrong rows."""
    db = runs_dir / "discover.db"
    pages, size = _pages_of(db, "evaluations_once")
    raw = db.read_bytes()
    old = {p: raw[(p - 1) * size:p * size] for p in pages}
    conn = sqlite3.connect(db)
    conn.execute("UPDATE evaluations SET candidate_id = 'tmp-' || candidate_id")
    for a, b in zip(cids, cids[1:] + cids[:1]):
        conn.execute("UPDATE evaluations SET candidate_id = ? WHERE candidate_id = ?", (b, "tmp-" + a))
    conn.commit()
    conn.close()
    assert sorted(_pages_of(db, "evaluations_once")[0]) == sorted(pages)
    with open(db, "r+b") as f:
        for p, data in old.items():
            f.seek((p - 1) * size)
            f.write(data)


def _scribble(runs_dir, name, seed=1, pagetype="%", every=1):
    """Random bytes over the second half of every `every`-th page of table or index `name`."""
    db = runs_dir / "discover.db"
    pages, size = _pages_of(db, name, pagetype)
    pages = pages[::every]
    rng = random.Random(seed)
    with open(db, "r+b") as f:
        for p in pages:
            f.seek((p - 1) * size + size // 2)
            f.write(bytes(rng.randrange(256) for _ in range(size // 2)))


def test_a_stale_index_is_caught_at_open_and_rebuilt_without_loss(tmp_path):
    cids = _store_with_test_scores(tmp_path)
    _stale_index(tmp_path, cids)
    conn = sqlite3.connect(tmp_path / "discover.db")
    # The trap: SQLite's quick check passes, and a lookup through the index returns another candidate's score.
    assert conn.execute("PRAGMA quick_check").fetchall() == [("ok",)]
    assert conn.execute("SELECT score FROM evaluations WHERE candidate_id = ?", (cids[5],)).fetchall() == [(5.0,)]
    assert conn.execute("SELECT score FROM evaluations NOT INDEXED WHERE candidate_id = ?", (cids[5],)).fetchall() == [(4.0,)]
    conn.close()
    for kwargs in ({"create": False}, {"readonly": True}, {}):
        with pytest.raises(StoreError) as info:
            Store(tmp_path, **kwargs)
        message = str(info.value)
        assert "\n" not in message
        assert "damaged: index evaluations_once" in message and "nothing is lost" in message
        assert f"python -m discover.store.recover {tmp_path}" in message
    done = recover(tmp_path)
    assert done.action == "reindexed" and done.backup.exists()
    store = Store(tmp_path, readonly=True)
    assert [e.score for e in store.evaluations(cids[5])] == [4.0]  # the table's truth, through the rebuilt index
    assert [e.score for e in store.evaluations(cids[0])] == [299.0]


def test_random_bytes_in_index_pages_name_the_index(tmp_path):
    cids = _store_with_test_scores(tmp_path)
    _scribble(tmp_path, "evaluations_once")
    with pytest.raises(StoreError, match="damaged: index evaluations_once .*nothing is lost") as info:
        Store(tmp_path, readonly=True)
    assert "\n" not in str(info.value)
    done = recover(tmp_path)  # REINDEX cannot free pages it cannot parse: the rows are copied to a fresh store
    assert done.action in ("reindexed", "salvaged") and not done.lost_rows
    store = Store(tmp_path)
    assert [[e.score for e in store.evaluations(c)] for c in cids] == [[float(k)] for k in range(300)]


def test_damaged_table_pages_are_salvaged_and_the_loss_reported(tmp_path):
    cids = _store_with_test_scores(tmp_path)
    _scribble(tmp_path, "evaluations", pagetype="leaf", every=2)
    with pytest.raises(StoreError, match="damaged: .*table evaluations.*recover what is readable") as info:
        Store(tmp_path, create=False)
    assert "\n" not in str(info.value)
    done = recover(tmp_path)
    assert done.action == "salvaged" and done.copied["candidates"] == 300 and done.unreadable["evaluations"] > 0
    store = Store(tmp_path, create=False)  # sound again: opens with the full check
    kept = {c: store.evaluations(c) for c in cids}
    right = [k for k, c in enumerate(cids) if [e.score for e in kept[c]] == [float(k)]]
    lost = [k for k, c in enumerate(cids) if kept[c] == []]
    assert len(right) + len(lost) == len(cids) and right and lost  # every kept score is the true one
    assert done.copied["evaluations"] == len(right)


def test_recover_on_a_sound_store_changes_nothing(tmp_path):
    _store_with_test_scores(tmp_path, n=3)
    before = (tmp_path / "discover.db").read_bytes()
    assert recover(tmp_path).action == "none"
    assert (tmp_path / "discover.db").read_bytes() == before
    out = subprocess.run([sys.executable, "-m", "discover.store.recover", str(tmp_path)], capture_output=True, text=True, check=False)
    assert out.returncode == 0 and "no damage found" in out.stdout


def test_text_that_is_not_utf8_is_shown_replaced_with_one_warning(tmp_path, caplog):
    store = Store(tmp_path)
    run_id = store.create_run(problem="tsp", problem_dir="/p", kind="code", strategy="eoh", model="m", sandbox=None,
                              config={})
    cid = store.add_candidate(run_id=run_id, generation=0, slot=0, operator="e1", parent_ids=[], thought="",
                              code="placeholder", code_hash="h", llm_call_key=None)
    store.close()
    conn = sqlite3.connect(tmp_path / "discover.db")
    conn.execute("UPDATE candidates SET code = CAST(X'646566206628293a20ff0a' AS TEXT), thought = CAST(X'c3' AS TEXT)")
    conn.execute("INSERT INTO llm_calls (run_id, key, model, role, messages, params, sample_index, response, created_at)"
                 " VALUES (?, 'k', 'm', 'propose', '[]', '{}', 0, CAST(X'6f6bfe' AS TEXT), 1.0)", (run_id,))
    conn.commit()
    conn.close()
    with caplog.at_level(logging.WARNING, logger="discover.store"):
        store = Store(tmp_path, readonly=True)
        assert store.get_candidate(cid).code == "def f(): \ufffd\n"
        assert [c.thought for c in store.candidates(run_id)] == ["\ufffd"]
        assert StoreCallLog(store, run_id).get_cached("k").response == "ok\ufffd"
    warnings = [r.getMessage() for r in caplog.records if r.name == "discover.store"]
    assert len(warnings) == 1 and "not valid UTF-8" in warnings[0] and "\n" not in warnings[0]
    raw = sqlite3.connect(tmp_path / "discover.db").execute("SELECT CAST(code AS BLOB) FROM candidates").fetchone()[0]
    assert raw == b"def f(): \xff\n"  # the stored bytes are untouched


def test_a_json_column_that_does_not_parse_is_one_line(tmp_path):
    store = Store(tmp_path)
    run_id = store.create_run(problem="tsp", problem_dir="/p", kind="code", strategy="eoh", model="m", sandbox=None,
                              config={})
    cid = store.add_candidate(run_id=run_id, generation=0, slot=0, operator="e1", parent_ids=[], thought="",
                              code="x", code_hash="h", llm_call_key=None)
    store._exec("UPDATE candidates SET parent_ids = '[\"a\", ' WHERE id = ?", (cid,))
    with pytest.raises(StoreError, match=f"candidate {cid}'s parent_ids is not valid JSON") as info:
        store.candidates(run_id)
    assert "\n" not in str(info.value)


def test_readers_skip_the_full_check_only_while_the_files_are_unchanged(tmp_path):
    cids = _store_with_test_scores(tmp_path, n=50)
    first = Store(tmp_path, readonly=True)
    assert first.checked  # the writer's close changed the file since the writer's own check
    first.close()
    again = Store(tmp_path, readonly=True)
    assert not again.checked and [e.score for e in again.evaluations(cids[3])] == [3.0]
    again.close()
    writer = Store(tmp_path, create=False)
    assert writer.checked  # writers always check
    writer.set_run_status(writer.list_runs()[0].id, "stopped")
    reader = Store(tmp_path, readonly=True)
    assert reader.checked  # a commit since: checked again
    reader.close()
    writer.close()
    _stale_index(tmp_path, cids)
    with pytest.raises(StoreError, match="damaged: index evaluations_once"):
        Store(tmp_path, readonly=True)


def test_recover_refuses_while_a_run_is_live(tmp_path):
    cids = _store_with_test_scores(tmp_path, n=60)
    store = Store(tmp_path)
    run_id = store.list_runs()[0].id
    store.claim_run(run_id)  # this process is a live owner
    store.close()
    _stale_index(tmp_path, cids)
    with pytest.raises(StoreError, match=f"run {run_id} is still being run by pid {os.getpid()}"):
        recover(tmp_path)
    assert not list(tmp_path.glob("discover.db.damaged-*"))  # nothing touched
