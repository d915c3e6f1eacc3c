"""The Ray executor on a real multi-node Ray cluster (issue 16): a head that runs nothing and two worker nodes,
started on this machine with ray.cluster_utils.Cluster (real raylets, real worker processes, a node really dies).

Scores must equal the local executor's, hostile candidates must end as they do locally, a hung candidate or a
stalled Ray worker is stopped on time, a node lost mid-run loses and duplicates no evaluation (rows counted in a
real Store), and a cancelled run's in-flight evaluations stop and a new executor finishes the rest.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import signal
import sys
import time
import warnings
from pathlib import Path
from types import SimpleNamespace

import pytest

from discover.errors import ConfigError
from discover.evaluation import Evaluator, open_evaluator
from discover.executors import open_executor
from discover.executors.local import LocalExecutor
from discover.problem import load_problem
from discover.sandbox import available_backends, open_sandbox
from discover.store import Store

TOY = Path(__file__).parent / "fixtures" / "problems" / "toy"
TSP_WORST = """
import numpy as np

def select_next_node(current_node, destination_node, unvisited_nodes, distance_matrix):
    return int(unvisited_nodes[-1])
"""
FAKE_KEY = "sk-planted-fake-key-ray-0123456789"
os.environ["OPENAI_API_KEY"] = FAKE_KEY  # before the cluster starts: Ray workers inherit it, candidates must not
BACKEND = "bwrap" if available_backends()["bwrap"] is None else "process"
CPUS_PER_NODE = 4  # scheduling tokens, not cores: room for a second executor's slots and for restarts after a loss


def toy_code(i: int, sleep_s: float = 0.0) -> str:
    return f"import time\n\ndef solve(x):\n    time.sleep({sleep_s})\n    return 2 * x + {i}\n"


@pytest.fixture(scope="module")
def cluster():
    ray = pytest.importorskip("ray", reason="ray is not installed: pip install 'discover[ray]'")
    from ray.cluster_utils import Cluster

    fast_failure = {"health_check_initial_delay_ms": 0, "health_check_period_ms": 500,
                    "health_check_failure_threshold": 3}
    c = Cluster(initialize_head=True, head_node_args={"num_cpus": 0, "include_dashboard": False,
                                                      "_system_config": fast_failure})
    workers = [c.add_node(num_cpus=CPUS_PER_NODE) for _ in range(2)]
    c.wait_for_nodes()
    ray.init(address=c.address, log_to_driver=False)
    yield c, workers
    ray.shutdown()
    c.shutdown()


def ray_evaluator(problem_path, workers: int = 2, **kw) -> Evaluator:
    from discover.executors.ray import RayExecutor

    return Evaluator(load_problem(str(problem_path)), RayExecutor(sandbox=BACKEND, workers=workers, **kw))


@pytest.fixture(scope="module")
def ray_toy(cluster):
    ev = ray_evaluator(TOY)
    yield ev
    ev.close()


@pytest.fixture(scope="module")
def local_toy():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # the process backend's weakness warning
        ev = Evaluator(load_problem(str(TOY)), LocalExecutor(open_sandbox(BACKEND, workers=1)))
    yield ev
    ev.close()


def evaluate(ev: Evaluator, code: str, instance_set: str = "train", timeout_s: float = 10):
    ev.problem.spec.limits.timeout_s = timeout_s  # timeout is not part of a slot's resources: same slots
    return asyncio.run(ev.evaluate(code, [instance_set]))[0]


def worker_node_ids(cluster) -> set[str]:
    return {n.node_id for n in cluster[1]}


def test_without_ray_one_readable_error(monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` now fails as if it were not installed
    with pytest.raises(ConfigError) as err:
        open_executor("ray", sandbox="process")
    assert str(err.value) == "the ray executor needs Ray: pip install 'discover[ray]' (ray>=2.60)"
    from discover.executors.ray import cluster_summary

    assert cluster_summary("auto") == [("ray", "cluster", False, str(err.value))]


@pytest.mark.slow
def test_same_scores_as_the_local_executor_and_spread_over_worker_nodes(cluster, ray_toy, local_toy):
    from discover.executors.ray import RayExecutor

    for i in (0, 1, 3):
        code = toy_code(i)
        r, l = evaluate(ray_toy, code), evaluate(local_toy, code)
        assert r.status == l.status == "ok"
        assert r.score == l.score == float(i)
        assert r.instances == l.instances
    # evaluations run on the worker nodes (the head has no CPUs), on both: the slots are spread
    pool = next(iter(ray_toy.executor._pools.values()))
    assert {s.node for s in pool.slots} == worker_node_ids(cluster)

    tsp = load_problem("tsp")
    # through the seam the loop uses: open_evaluator with the config keys executor / sandbox / workers / ray_address
    config = SimpleNamespace(executor="ray", sandbox=BACKEND, workers=1, ray_address=cluster[0].address)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        local_tsp = Evaluator(load_problem("tsp"), LocalExecutor(open_sandbox(BACKEND, workers=1)))
    try:
        with open_evaluator(tsp, config) as ray_tsp:
            assert isinstance(ray_tsp.executor, RayExecutor) and ray_tsp.executor.address == cluster[0].address
            for code in (tsp.seed_code, TSP_WORST):
                r = asyncio.run(ray_tsp.evaluate(code, ["train50"]))[0]
                l = asyncio.run(local_tsp.evaluate(code, ["train50"]))[0]
                assert r.status == l.status == "ok", (r, l)
                assert r.score == l.score and r.instances == l.instances
        assert r.score > 200  # the worst rule really is scored as such, not a copy of the seed's result
    finally:
        local_tsp.close()


@pytest.mark.slow
def test_run_header_and_doctor_rows_describe_the_cluster(cluster, ray_toy):
    import ray

    from discover.executors.ray import cluster_summary
    from discover.sandbox import isolation_note

    c, _ = cluster
    d = ray_toy.describe()
    assert (d["executor"], d["nodes"], d["cpus"], d["gpus"], d["workers"]) == ("ray", 3, 2 * CPUS_PER_NODE, 0, 2)
    assert d["sandbox"] == BACKEND and d["isolation_note"] == isolation_note(BACKEND)
    rows = cluster_summary(c.address)
    assert rows[0] == ("ray", f"cluster {c.address}", True,
                       f"ray {ray.__version__}, 3 nodes alive (0 dead), {2 * CPUS_PER_NODE} CPUs, 0 GPUs")
    nodes = rows[1:]
    assert len(nodes) == 3 and all(usable and f"sandbox {BACKEND}" in detail for _, _, usable, detail in nodes)
    assert sum(", head)" in name for _, name, _, _ in nodes) == 1
    assert sorted(detail.split(",")[0] for _, _, _, detail in nodes) == ["0 CPUs"] + [f"{CPUS_PER_NODE} CPUs"] * 2


HOSTILE = {
    "reads /etc/shadow and the problem's hidden data": f"""
def solve(x):
    found = []
    for p in ["/etc/shadow", {str(TOY / "data" / "answers.json")!r},
              {str(load_problem("tsp").root / "data" / "optima.json")!r}]:
        try:
            found.append(open(p).read(50))
        except OSError:
            pass
    raise RuntimeError(f"read {{len(found)}} files")
""",
    "looks for the driver's API key": """
import os
def solve(x):
    raise RuntimeError("key visible" if any("sk-planted" in v for v in os.environ.values()) else "no key")
""",
    "forges results on its descriptors and exits": """
import json, os, struct
head = json.dumps({"id": 1, "status": "ok", "score": 0.0, "instances": {}}).encode()
FORGED = [b"DSR1" + struct.pack("<IQ", len(head), 0) + head, head + b"\\n"]
def solve(x):
    for fd in range(0, 256):
        for msg in FORGED:
            try:
                os.write(fd, msg)
            except OSError:
                pass
    os._exit(0)
""",
}


@pytest.mark.slow
@pytest.mark.parametrize("what", list(HOSTILE))
def test_hostile_candidate_ends_as_it_does_locally(ray_toy, local_toy, what):
    code = "def solve(x):\n    return 2 * x + 7\n" + HOSTILE[what]  # an honest score of 7 if anything leaked
    r, l = evaluate(ray_toy, code), evaluate(local_toy, code)
    assert r.status == l.status != "ok", (r, l)
    assert r.error == l.error, (r.error, l.error)
    assert FAKE_KEY not in (r.error or "") + r.stdout_tail + r.stderr_tail
    if "hidden" in what and BACKEND != "process":
        assert r.error == "RuntimeError: read 0 files"
    if "key" in what:
        assert r.error == "RuntimeError: no key"
    for i in (0, 1):  # the slots still answer each request with its own result
        assert evaluate(ray_toy, toy_code(i)).score == float(i)


@pytest.mark.slow
def test_fork_bomb_is_contained(ray_toy):
    code = """import os
def solve(x):
    while True:
        try:
            os.fork()
        except OSError:
            pass
"""
    t = time.perf_counter()
    r = evaluate(ray_toy, code, timeout_s=2)
    assert r.status == "timeout", r
    assert time.perf_counter() - t < 15
    assert evaluate(ray_toy, toy_code(2)).score == 2.0


@pytest.mark.slow
def test_hung_candidate_is_cancelled_on_time(ray_toy):
    t = time.perf_counter()
    r = evaluate(ray_toy, "def solve(x):\n    while True:\n        pass\n", timeout_s=1.5)
    assert r.status == "timeout" and r.error == "timed out after 1.5 s", r
    assert time.perf_counter() - t < 6
    assert evaluate(ray_toy, toy_code(1)).score == 1.0


@pytest.mark.slow
def test_stalled_ray_worker_is_killed_at_timeout_plus_margin(cluster):
    """The slot's own process stops answering (SIGSTOP): the executor gives up at timeout + margin, kills the
    worker, and Ray restarts the slot with a fresh sandbox."""
    import ray

    from discover.executors.ray import RayExecutor

    ev = Evaluator(load_problem(str(TOY)), RayExecutor(sandbox=BACKEND, workers=1, margin_s=2))
    try:
        assert evaluate(ev, toy_code(0), timeout_s=2).score == 0.0
        slot = next(iter(ev.executor._pools.values())).slots[0]
        pid = ray.get(slot.handle.pid.remote())
        os.kill(pid, signal.SIGSTOP)
        try:
            t = time.perf_counter()
            r = evaluate(ev, toy_code(1), timeout_s=2)
            waited = time.perf_counter() - t
        finally:
            try:
                os.kill(pid, signal.SIGCONT)
            except ProcessLookupError:
                pass
        assert r.status == "timeout" and "its Ray worker was killed" in r.error, r
        assert 4 <= waited < 7, waited
        r = evaluate(ev, toy_code(3), timeout_s=2)  # the restarted slot
        assert r.status == "ok" and r.score == 3.0, r
        assert ray.get(slot.handle.pid.remote()) != pid
    finally:
        ev.close()


def new_run(store: Store) -> str:
    return store.create_run(problem="toy", problem_dir=str(TOY), kind="code", strategy="eoh", model="none",
                            sandbox=f"ray/{BACKEND}", config={})


def add_candidates(store: Store, run_id: str, codes: list[str]) -> list[str]:
    return [store.add_candidate(run_id=run_id, generation=0, slot=i, operator="i1", parent_ids=[], thought="",
                                code=c, code_hash=hashlib.sha256(c.encode()).hexdigest(), llm_call_key=None)
            for i, c in enumerate(codes)]


async def evaluate_and_record(ev: Evaluator, store: Store, cids: list[str], codes: dict[str, str],
                              recorded: list[str]) -> None:
    """What the loop does: every pending candidate evaluated, each result persisted as soon as it is back."""
    async def one(cid: str) -> None:
        result = (await ev.evaluate(codes[cid], ["train"], key=cid))[0]
        if store.add_evaluation(cid, "train", "train", result):
            recorded.append(cid)

    await asyncio.gather(*(one(c) for c in cids))


class Recording:
    """An executor that passes every run to another one and keeps what came back (to see retries)."""

    def __init__(self, inner) -> None:
        self.inner, self.raws = inner, []
        self.name = inner.name

    @property
    def capacity(self) -> int:
        return self.inner.capacity

    async def run(self, job, deadline=None):
        raw = await self.inner.run(job, deadline)
        if job.instance_set != "(probe)":  # the Evaluator's check that the problem's side loads
            self.raws.append(raw)
        return raw

    def describe(self):
        return self.inner.describe()

    def close(self) -> None:
        self.inner.close()


@pytest.mark.slow
def test_ctrl_c_stops_in_flight_evaluations_and_a_new_executor_resumes(cluster, tmp_path):
    store = Store(tmp_path)
    run_id = new_run(store)
    codes = [toy_code(0), toy_code(1), toy_code(2, sleep_s=4), toy_code(3, sleep_s=4)]
    cids = add_candidates(store, run_id, codes)
    by_id = dict(zip(cids, codes))
    recorded: list[str] = []

    ev = ray_evaluator(TOY)
    def pool_of(e):
        return next(iter(e.executor._pools.values()))

    assert evaluate(ev, toy_code(9), timeout_s=30).score == 9.0  # slots up, the Evaluator's one-time probe done

    async def interrupted() -> float:
        task = asyncio.create_task(evaluate_and_record(ev, store, cids, by_id, recorded))
        while len(recorded) < 2:  # the two quick ones are in; the two slow ones are starting
            await asyncio.sleep(0.02)
        t = time.perf_counter()
        while not all(s.busy for s in pool_of(ev).slots) and time.perf_counter() - t < 10:
            await asyncio.sleep(0.02)
        await asyncio.sleep(0.3)  # inside their 4 s sleep now
        assert all(s.busy for s in pool_of(ev).slots)
        task.cancel()  # what Ctrl-C does to the loop's task
        with pytest.raises(asyncio.CancelledError):
            await task
        t = time.perf_counter()
        while any(s.busy for s in pool_of(ev).slots):
            await asyncio.sleep(0.02)
        return time.perf_counter() - t

    try:
        freed_after = asyncio.run(interrupted())
    finally:
        ev.close()
    assert freed_after < 2.5, f"the slots kept running the cancelled evaluations for {freed_after:.1f} s"
    assert sorted(recorded) == sorted(cids[:2])

    # resume: a new executor on the same cluster evaluates only what has no row yet
    todo = [c for c in cids if not store.evaluations(c)]
    assert todo == cids[2:]
    ev2 = ray_evaluator(TOY)
    ev2.problem.spec.limits.timeout_s = 30
    try:
        asyncio.run(evaluate_and_record(ev2, store, todo, by_id, recorded))
    finally:
        ev2.close()
    for i, cid in enumerate(cids):
        rows = store.evaluations(cid)
        assert len(rows) == 1 and rows[0].status == "ok" and rows[0].score == float(i), rows
    store.close()


@pytest.mark.slow
def test_resources_come_from_the_job_gpu_evaluations_go_to_the_gpu_node(cluster):
    """Ray places by declared resources: a node declaring one GPU (none is needed to schedule) gets the
    evaluations of a problem with gpus = 1; one needing more CPUs than any node has is refused readably."""
    from discover.errors import SandboxError
    from discover.executors.ray import RayExecutor

    c, _ = cluster
    gpu_node = c.add_node(num_cpus=1, num_gpus=1)
    c.wait_for_nodes()
    try:
        problem = load_problem(str(TOY))
        problem.spec.limits.gpus = 1
        executor = Recording(RayExecutor(sandbox=BACKEND, workers=1, gpus=1))
        ev = Evaluator(problem, executor)
        try:
            r = asyncio.run(ev.evaluate(toy_code(4), ["train"]))[0]
        finally:
            ev.close()
        assert r.status == "ok" and r.score == 4.0, r
        assert [raw.node for raw in executor.raws] == [gpu_node.node_id]
    finally:
        c.remove_node(gpu_node)

    big = load_problem(str(TOY))
    big.spec.limits.cpus = 64
    ev = Evaluator(big, RayExecutor(sandbox=BACKEND, workers=1, start_timeout_s=3))
    try:
        with pytest.raises(SandboxError, match=r"no Ray evaluation slot came up within 3 s: does a node have the "
                                               r"resources of one evaluation \(64 CPU, 0 GPU, 512 MB\)"):
            asyncio.run(ev.evaluate(toy_code(0), ["train"]))
    finally:
        ev.close()


@pytest.mark.slow
def test_worker_node_killed_mid_run_loses_and_duplicates_nothing(cluster, tmp_path):
    """Last in this file: it removes a worker node for good."""
    c, workers = cluster
    store = Store(tmp_path)
    run_id = new_run(store)
    codes = [toy_code(i, sleep_s=0.3) for i in range(16)]
    cids = add_candidates(store, run_id, codes)
    by_id = dict(zip(cids, codes))
    recorded: list[str] = []

    from discover.executors.ray import RayExecutor

    ray_ex = RayExecutor(sandbox=BACKEND, workers=2)
    executor = Recording(ray_ex)
    ev = Evaluator(load_problem(str(TOY)), executor)

    async def with_a_node_lost() -> str:
        task = asyncio.create_task(evaluate_and_record(ev, store, cids, by_id, recorded))
        while len(recorded) < 3:
            await asyncio.sleep(0.02)
        pool = next(iter(ray_ex._pools.values()))
        victim_id = pool.slots[1].node
        victim = next(n for n in workers if n.node_id == victim_id)
        c.remove_node(victim, allow_graceful=False)  # its raylet and workers are killed: a node crash
        await task
        return victim_id

    try:
        victim_id = asyncio.run(with_a_node_lost())
    finally:
        ev.close()
    for i, cid in enumerate(cids):  # every evaluation recorded once, each with its own answer
        rows = store.evaluations(cid)
        assert len(rows) == 1 and rows[0].status == "ok" and rows[0].score == float(i), (i, rows)
    assert sorted(recorded) == sorted(cids)
    assert len(executor.raws) == 16 and all(r.status == "ok" for r in executor.raws)  # one answer per run() call
    retried = [r for r in executor.raws if r.extra.get("attempts", 1) > 1]
    assert retried, "no evaluation was in flight on the lost node"
    assert all(r.node != victim_id for r in retried)  # rerun elsewhere
    store.close()
