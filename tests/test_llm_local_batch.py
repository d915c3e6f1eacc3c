"""The embedded model's batching policy and thread pick, without the model: where a prompt goes (which slot, what
it keeps, when it copies another slot's prefix) and how many threads the free cores allow."""

from discover.llm.free_cores import FreeCores
from discover.llm.local_batch import MIN_COPY_GAIN, place, worth_waiting

SYSTEM = list(range(100, 400))  # a shared system + task prefix, 300 tokens


def test_a_prompt_goes_to_the_free_slot_holding_its_longest_prefix():
    kvs = [SYSTEM + [1, 2, 3], SYSTEM + [7, 8, 9, 10, 11], []]
    plan = place(kvs, free=[0, 1, 2], tokens=SYSTEM + [7, 8, 9, 5, 5, 5], used_at=[3.0, 1.0, 2.0])
    assert (plan.slot, plan.keep, plan.own, plan.copy_from) == (1, 303, 303, None)


def test_equal_prefixes_go_to_the_least_recently_used_slot():
    kvs = [SYSTEM + [1], SYSTEM + [2], SYSTEM + [3]]
    plan = place(kvs, free=[0, 1, 2], tokens=SYSTEM + [4, 4], used_at=[5.0, 2.0, 9.0])
    assert plan.slot == 1 and plan.keep == 300


def test_the_last_two_prompt_tokens_are_always_decoded():
    prompt = SYSTEM + [1, 2]
    plan = place([prompt + [50, 51]], free=[0], tokens=prompt, used_at=[0.0])
    assert plan.keep == len(prompt) - 2
    assert place([[]], free=[0], tokens=[9], used_at=[0.0]).keep == 0


def test_a_longer_prefix_held_by_a_busy_slot_is_copied_into_the_free_one():
    busy = SYSTEM + [1, 2, 3]
    plan = place([busy, [900, 901]], free=[1], tokens=SYSTEM + [1, 2, 4, 4], used_at=[0.0, 0.0])
    assert (plan.slot, plan.copy_from, plan.keep, plan.own) == (1, 0, 302, 0)
    no_copy = place([busy, [900, 901]], free=[1], tokens=SYSTEM + [1, 2, 4, 4], used_at=[0.0, 0.0],
                    allow_copy=False)
    assert (no_copy.copy_from, no_copy.keep) == (None, 0)


def test_a_copy_must_save_enough_tokens():
    own = SYSTEM[:100]
    donor = SYSTEM[:100 + MIN_COPY_GAIN - 1]
    plan = place([donor, own], free=[1], tokens=SYSTEM + [5, 5], used_at=[0.0, 0.0])
    assert plan.copy_from is None and plan.keep == 100
    donor = SYSTEM[:100 + MIN_COPY_GAIN]
    assert place([donor, own], free=[1], tokens=SYSTEM + [5, 5], used_at=[0.0, 0.0]).copy_from == 0


class _Machine:
    """A /proc/stat with two cores whose busy time the test advances, plus this process's CPU time and a clock."""

    def __init__(self, path):
        self.path = path
        self.busy = [0, 0]   # jiffies (100 per second)
        self.idle = [0, 0]
        self.own = 0.0
        self.now = 0.0
        self.write()

    def write(self):
        lines = ["cpu  0 0 0 0 0 0 0 0 0 0"]
        lines += [f"cpu{i} {b} 0 0 {d} 0 0 0 0 0 0" for i, (b, d) in enumerate(zip(self.busy, self.idle))]
        self.path.write_text("\n".join(lines) + "\n")

    def advance(self, seconds, others_busy, own_busy):
        """`others_busy` and `own_busy`: cores' worth of busy time, spread over the two cores."""
        total = others_busy + own_busy
        for i in range(2):
            share = min(1.0, max(0.0, total - i))
            self.busy[i] += round(100 * seconds * share)
            self.idle[i] += round(100 * seconds * (1 - share))
        self.own += own_busy * seconds
        self.now += seconds
        self.write()


def _picker(machine):
    return FreeCores(cores=[0, 1], stat_path=str(machine.path), own_cpu_s=lambda: machine.own,
                     clock=lambda: machine.now)


def test_threads_follow_the_cores_other_processes_leave_free(tmp_path, monkeypatch):
    monkeypatch.delenv("DISCOVER_LOCAL_THREADS", raising=False)
    machine = _Machine(tmp_path / "stat")
    picker = _picker(machine)
    machine.advance(3, others_busy=0.0, own_busy=2.0)  # only the model itself is busy: both cores are ours
    assert picker.threads() == 2
    machine.advance(3, others_busy=1.0, own_busy=1.0)  # another process holds a core
    assert picker.threads() == 1
    machine.advance(3, others_busy=2.0, own_busy=0.0)  # the machine is full: still one thread, never zero
    assert picker.threads() == 1
    machine.advance(3, others_busy=0.5, own_busy=1.0)  # half a core taken: 2 threads would wait on each other
    assert picker.threads() == 1
    machine.advance(3, others_busy=0.1, own_busy=1.0)
    assert picker.threads() == 2


def test_a_pinned_thread_count_wins_but_never_exceeds_the_cores(tmp_path, monkeypatch):
    machine = _Machine(tmp_path / "stat")
    picker = _picker(machine)
    monkeypatch.setenv("DISCOVER_LOCAL_THREADS", "1")
    machine.advance(3, others_busy=0.0, own_busy=0.0)
    assert picker.threads() == 1
    monkeypatch.setenv("DISCOVER_LOCAL_THREADS", "64")
    assert picker.threads() == 2


def test_an_unreadable_proc_stat_means_all_cores(tmp_path, monkeypatch):
    monkeypatch.delenv("DISCOVER_LOCAL_THREADS", raising=False)
    picker = FreeCores(cores=[0, 1, 2], stat_path=str(tmp_path / "missing"))
    assert picker.threads() == 3


def test_a_prompt_waits_for_a_shared_prefix_another_slot_is_still_processing():
    other = SYSTEM + [1, 2, 3]
    half_done = other[:100]  # slot 0 has processed 100 of its prompt so far
    mine = SYSTEM + [4, 4]
    assert worth_waiting([half_done, []], [other, []], mine, have=0)
    # ... and goes ahead once they are in the cache (place() then copies them) or when the gain is too small.
    assert not worth_waiting([other, []], [other, []], mine, have=0)
    assert not worth_waiting([half_done, []], [other, []], mine, have=300 - MIN_COPY_GAIN + 1)
    assert not worth_waiting([[], []], [[], [7, 7, 7]], mine, have=0)
