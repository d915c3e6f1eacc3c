"""Who may open and write the run store: read-only folders, one owner per run (real processes), a store that does
not exist, a full disk, a write lock held by another process, and file permissions."""

import os
import signal
import socket
import stat
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from discover.errors import RunLocked, StoreError
from discover.store import Store

REPO = Path(__file__).resolve().parents[1]


def _run(store):
    return store.create_run(problem="tsp", problem_dir="/p", kind="code", strategy="eoh", model="m", sandbox=None,
                            config={})


def _python(code, *args):
    """A real second process running `code` against this checkout's discover."""
    return subprocess.Popen([sys.executable, "-c", textwrap.dedent(code), *map(str, args)], cwd=REPO,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _wait_line(proc, expected, timeout=20):
    deadline = time.time() + timeout
    while time.time() < deadline:
        line = proc.stdout.readline()
        if line.strip() == expected:
            return
        if not line and proc.poll() is not None:
            break
    raise AssertionError(f"child never printed {expected!r}: {proc.stderr.read()}")


@pytest.fixture
def read_only(tmp_path):
    """make(folder) -> a read-only view of folder for this process: a read-only bind mount as root (root writes
    through chmod), chmod a-w otherwise."""
    undo = []

    def make(folder):
        if os.geteuid() != 0:
            for p in [folder, *folder.iterdir()]:
                mode = p.stat().st_mode
                p.chmod(mode & ~0o222)
                undo.append(lambda p=p, mode=mode: p.chmod(mode))
            return folder
        view = tmp_path / f"ro-{len(undo)}"
        view.mkdir()
        if subprocess.run(["mount", "--bind", str(folder), str(view)], capture_output=True, check=False).returncode != 0:
            pytest.skip("cannot bind-mount here")
        undo.append(lambda: subprocess.run(["umount", "-l", str(view)], check=True))
        subprocess.run(["mount", "-o", "remount,bind,ro", str(view)], check=True)
        return view

    yield make
    for step in reversed(undo):
        step()


def test_read_only_folder_reads_work_and_writers_get_one_line(tmp_path, read_only):
    src = tmp_path / "runs"
    store = Store(src)
    run_id = _run(store)
    store.close()
    files = sorted(p.name for p in src.iterdir())
    view = read_only(src)
    for kwargs, why in (({"create": False}, "the runs directory .* is read-only"), ({"readonly": True}, "opened read-only")):
        reader = Store(view, **kwargs)
        assert [r.id for r in reader.list_runs()] == [run_id] and reader.readonly
        with pytest.raises(StoreError, match=f"cannot write to .*: .*{why}") as info:
            reader.set_run_status(run_id, "stopped")
        assert "\n" not in str(info.value)
        reader.close()
    with pytest.raises(StoreError, match="is read-only; discover must write its run database there") as info:
        Store(view)
    assert "\n" not in str(info.value)
    assert sorted(p.name for p in src.iterdir()) == files  # nothing was created beside it


def _crashed_writer(runs_dir, keep_shm=True):
    """A writer that recorded a run and died before checkpointing: its rows live only in discover.db-wal."""
    proc = _python("""
        import os, sys
        from discover.store import Store
        store = Store(sys.argv[1])
        store._conn.execute("PRAGMA wal_autocheckpoint=0")
        print(store.create_run(problem="tsp", problem_dir="/p", kind="code", strategy="eoh", model="m", sandbox=None,
                               config={}), flush=True)
        os._exit(0)
    """, runs_dir)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    if not keep_shm:
        Path(f"{runs_dir}/discover.db-shm").unlink()
    return out.strip()


def test_read_only_folder_with_a_crashed_writers_log_shows_its_last_writes(tmp_path, read_only):
    src = tmp_path / "runs"
    Store(src).close()
    run_id = _crashed_writer(src)
    assert (src / "discover.db-wal").stat().st_size > 0
    view = read_only(src)
    assert [r.id for r in Store(view, readonly=True).list_runs()] == [run_id]


def test_read_only_folder_with_a_log_but_no_shm_refuses_rather_than_show_old_data(tmp_path, read_only):
    src = tmp_path / "runs"
    Store(src).close()
    _crashed_writer(src, keep_shm=False)
    view = read_only(src)
    with pytest.raises(StoreError, match="unfinished write-ahead log") as info:
        Store(view, readonly=True)
    assert "\n" not in str(info.value)


def test_readonly_store_leaves_the_database_file_unchanged(tmp_path):
    store = Store(tmp_path)
    _run(store)
    store.close()
    before = (tmp_path / "discover.db").read_bytes()
    reader = Store(tmp_path, readonly=True)
    reader.list_runs()
    with pytest.raises(StoreError, match="cannot write to"):
        _run(reader)
    reader.close()
    assert (tmp_path / "discover.db").read_bytes() == before


def test_open_without_create_creates_nothing(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(StoreError, match="no run database at"):
        Store(empty, create=False)
    with pytest.raises(StoreError, match="no run database at"):
        Store(tmp_path / "missing", readonly=True)
    assert list(empty.iterdir()) == [] and not (tmp_path / "missing").exists()
    (empty / "discover.db").touch()  # a crash between creating the file and its schema
    with pytest.raises(StoreError, match="holds no tables") as info:
        Store(empty, create=False)
    assert "\n" not in str(info.value)
    assert (empty / "discover.db").stat().st_size == 0 and sorted(p.name for p in empty.iterdir()) == ["discover.db"]


def test_new_store_is_private_to_its_user(tmp_path):
    runs = tmp_path / "deep" / "runs"
    store = Store(runs)
    _run(store)
    assert stat.S_IMODE(runs.stat().st_mode) == 0o700
    for name in ("discover.db", "discover.db-wal", "discover.db-shm"):
        assert stat.S_IMODE((runs / name).stat().st_mode) == 0o600, name
    store.close()


# -- one owner per run ---------------------------------------------------------------

_OWNER = """
    import sys, time
    from discover.errors import RunLocked
    from discover.store import Store
    store = Store(sys.argv[1], create=False)
    store.claim_run(sys.argv[2])
    print("claimed", flush=True)
    try:
        while True:
            time.sleep(0.05)
            store.heartbeat(sys.argv[2])
    except RunLocked as exc:
        print("lost:", exc, flush=True)
        sys.exit(3)
"""


def test_a_live_owner_locks_the_run_until_taken_over(tmp_path):
    store = Store(tmp_path)
    run_id = _run(store)
    owner = _python(_OWNER, tmp_path, run_id)
    try:
        _wait_line(owner, "claimed")
        with pytest.raises(RunLocked) as info:
            store.claim_run(run_id)
        message = str(info.value)
        assert "\n" not in message
        assert f"run {run_id} is being run by pid {owner.pid} on host {socket.gethostname()} (last heartbeat" in message
        assert "pass --takeover if it is dead" in message
        assert store.get_run(run_id).owner_pid == owner.pid
        store.claim_run(run_id, takeover=True)
        out, _ = owner.communicate(timeout=20)  # the old owner notices at its next heartbeat and stops
        assert owner.returncode == 3 and f"run {run_id} is no longer owned by this process (now: pid {os.getpid()}" in out
        assert store.get_run(run_id).owner_pid == os.getpid()
    finally:
        if owner.poll() is None:
            owner.kill()
            owner.wait()


def test_a_dead_owner_is_replaced_without_takeover(tmp_path):
    store = Store(tmp_path)
    run_id = _run(store)
    owner = _python(_OWNER, tmp_path, run_id)
    _wait_line(owner, "claimed")
    owner.send_signal(signal.SIGKILL)
    owner.wait()
    assert store.get_run(run_id).status == "crashed"  # its owner is gone
    store.claim_run(run_id)
    assert store.get_run(run_id).owner_pid == os.getpid() and store.get_run(run_id).status == "running"
    assert store.release_run(run_id) is True and store.get_run(run_id).owner_pid is None
    assert store.release_run(run_id) is False


def test_a_reused_pid_is_not_the_owner(tmp_path):
    store = Store(tmp_path)
    run_id = _run(store)
    other = _python("import time; print('up', flush=True); time.sleep(60)")
    try:
        _wait_line(other, "up")
        # The recorded owner has the pid of a live process, but that process started at another time.
        store._exec("UPDATE runs SET owner_pid = ?, owner_host = ?, owner_started = 1.0, heartbeat_at = 0 WHERE id = ?",
                    (other.pid, socket.gethostname(), run_id))
        store.claim_run(run_id)
        assert store.get_run(run_id).owner_pid == os.getpid()
    finally:
        other.kill()
        other.wait()


def test_an_owner_on_another_host_needs_takeover(tmp_path):
    store = Store(tmp_path)
    run_id = _run(store)
    store._exec("UPDATE runs SET owner_pid = 4242, owner_host = 'elsewhere', heartbeat_at = ? WHERE id = ?",
                (time.time() - 300, run_id))
    with pytest.raises(RunLocked, match=r"pid 4242 on host elsewhere \(last heartbeat 5 min ago\)"):
        store.claim_run(run_id)
    store.claim_run(run_id, takeover=True)
    assert store.get_run(run_id).owner_host == socket.gethostname()
    with pytest.raises(StoreError, match="no run 'nope'"):
        store.claim_run("nope")


# -- full disk and locks ---------------------------------------------------------------

def _fill(store, run_id):
    n = 0
    with pytest.raises(StoreError) as info:
        while n < 100_000:
            store.add_candidate(run_id=run_id, generation=n, slot=0, operator="e1", parent_ids=[], thought="",
                                code="x" * 4000, code_hash=str(n), llm_call_key=None)
            n += 1
    return n, str(info.value)


def test_disk_full_on_a_real_small_filesystem(tmp_path):
    mnt = tmp_path / "small"
    mnt.mkdir()
    if os.geteuid() != 0 or subprocess.run(["mount", "-t", "tmpfs", "-o", "size=400k", "tmpfs", str(mnt)],
                                           capture_output=True, check=False).returncode != 0:
        pytest.skip("needs root to mount a small tmpfs")
    try:
        store = Store(mnt / "runs")
        run_id = _run(store)
        n, message = _fill(store, run_id)
        assert message.startswith(f"disk full while writing to {mnt / 'runs' / 'discover.db'}; everything recorded "
                                  "before is kept") and "\n" not in message
        assert n > 0 and len(store.candidates(run_id)) == n
        store.close()
        assert len(Store(mnt / "runs", create=False).candidates(run_id)) == n
    finally:
        subprocess.run(["umount", "-l", str(mnt)], check=True)


def test_disk_full_when_the_database_reaches_its_size_limit(tmp_path):
    store = Store(tmp_path)
    run_id = _run(store)
    pages = store._conn.execute("PRAGMA page_count").fetchone()[0]
    store._conn.execute(f"PRAGMA max_page_count = {pages + 40}")
    n, message = _fill(store, run_id)
    assert message.startswith("disk full while writing to") and "everything recorded before is kept" in message
    assert len(store.candidates(run_id)) == n > 0


def test_a_write_lock_held_past_the_busy_timeout_is_one_line(tmp_path):
    store = Store(tmp_path, busy_timeout_s=0.3)
    run_id = _run(store)
    holder = _python("""
        import sqlite3, sys, time
        conn = sqlite3.connect(sys.argv[1], isolation_level=None)
        conn.execute("BEGIN IMMEDIATE")
        print("locked", flush=True)
        time.sleep(30)
    """, tmp_path / "discover.db")
    try:
        _wait_line(holder, "locked")
        assert store.get_run(run_id).id == run_id  # readers are not blocked (WAL)
        with pytest.raises(StoreError) as info:
            store.set_run_status(run_id, "stopped")
        message = str(info.value)
        assert "\n" not in message
        assert message == (f"run database {tmp_path / 'discover.db'} is locked by another process (waited 0.3 s for "
                           "its write to finish); try again when it is done")
    finally:
        holder.kill()
        holder.wait()
    store.set_run_status(run_id, "stopped")  # the lock is gone: writes work again
    assert store.get_run(run_id).status == "stopped"


def test_a_second_open_in_one_process_keeps_the_first_connections_locks(tmp_path):
    """POSIX locks belong to the process: opening and closing the database file by another descriptor (e.g. to
    look at it) drops every SQLite lock this process holds on it. Another process closing its connection would then
    believe it was the last one and delete the log under the live writer, losing its writes."""
    writer = Store(tmp_path)
    run_id = _run(writer)
    Store(tmp_path, create=False)  # a second store in the same process, as the loop's helpers do
    Store(tmp_path, readonly=True)
    reader = _python("""
        import sqlite3, sys
        conn = sqlite3.connect(sys.argv[1])
        print(conn.execute("SELECT count(*) FROM runs").fetchone()[0])
        conn.close()
    """, tmp_path / "discover.db")
    out, err = reader.communicate(timeout=60)
    assert out.split() == ["1"], err
    assert (tmp_path / "discover.db-wal").exists()  # the other process knew this one was still connected
    writer.set_run_status(run_id, "stopped")
    later = _python("""
        import sqlite3, sys
        print(sqlite3.connect(sys.argv[1]).execute("SELECT status FROM runs").fetchone()[0])
    """, tmp_path / "discover.db")
    out, err = later.communicate(timeout=60)
    assert out.split() == ["stopped"], err
