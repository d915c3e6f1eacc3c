import asyncio
import socket
import subprocess
import sys

import pytest

from discover.errors import BudgetExhausted, LLMCallFailed, MissingAPIKey, UnknownModel, Unreachable
from discover.llm import Budget, Gateway, MemoryCallLog
from discover.llm import fake

MSG = [{"role": "user", "content": "write code"}]


@pytest.fixture(autouse=True)
def _fresh_scripts():
    fake.reset()
    yield
    fake.reset()


def gw(**kw):
    kw.setdefault("backoff_s", 0.001)
    return Gateway(**kw)


def test_retries_rate_limits_timeouts_and_5xx_then_succeeds():
    fake.script("r", [fake.Fail("rate_limit"), fake.Fail("timeout"), fake.Fail("server"), "ok"])
    log = MemoryCallLog()
    resp = gw(call_log=log, max_retries=4).complete_sync(model="fake/r", messages=MSG)
    assert resp.text == "ok" and fake.stats("r").calls == 4
    assert [r.response for r in log.records] == ["ok"]  # one paid call recorded, with its answer


def test_gives_up_after_max_retries_and_records_the_failure():
    fake.script("r", [fake.Fail("server")] * 3)
    log = MemoryCallLog()
    with pytest.raises(LLMCallFailed, match="failed after 3 attempt"):
        gw(call_log=log, max_retries=2).complete_sync(model="fake/r", messages=MSG)
    assert log.records[-1].error and log.records[-1].response is None


def test_backoff_grows(monkeypatch):
    delays = []
    real_sleep = asyncio.sleep

    async def fake_sleep(d):
        delays.append(d)
        await real_sleep(0)

    monkeypatch.setattr(asyncio, "sleep", fake_sleep)
    fake.script("r", [fake.Fail("rate_limit")] * 3 + ["ok"])
    Gateway(backoff_s=1.0, max_retries=3).complete_sync(model="fake/r", messages=MSG)
    retry_delays = [d for d in delays if d > 0]
    assert len(retry_delays) == 3
    assert retry_delays[0] <= 1.0 and retry_delays[2] >= 2.0  # 1, 2, 4 s scaled by jitter in [0.5, 1]


@pytest.mark.parametrize("kind,error", [("auth", MissingAPIKey), ("not_found", UnknownModel)])
def test_no_retry_on_auth_or_unknown_model(kind, error):
    fake.script("r", [fake.Fail(kind), "never reached"])
    with pytest.raises(error):
        gw(max_retries=5).complete_sync(model="fake/r", messages=MSG)
    assert fake.stats("r").calls == 1


def test_cache_hit_across_a_resumed_run_repays_nothing():
    fake.script("r", ["first", "second"])
    log = MemoryCallLog()  # stands in for the run store, which outlives the process
    a = gw(call_log=log).complete_sync(model="fake/r", messages=MSG, sample_index=0)
    resumed = gw(call_log=log)
    b = resumed.complete_sync(model="fake/r", messages=MSG, sample_index=0)
    c = resumed.complete_sync(model="fake/r", messages=MSG, sample_index=1)  # another sample: a new call
    assert (a.text, b.text, b.cached, c.text) == ("first", "first", True, "second")
    assert fake.stats("r").calls == 2


def test_budget_stops_paid_calls_but_not_cached_ones():
    fake.script("r", ["a", "b", "c"])
    log = MemoryCallLog()
    g = gw(call_log=log, budget=Budget(max_calls=2))
    g.complete_sync(model="fake/r", messages=MSG, sample_index=0)
    g.complete_sync(model="fake/r", messages=MSG, sample_index=1)
    with pytest.raises(BudgetExhausted, match="LLM call budget of 2"):
        g.complete_sync(model="fake/r", messages=MSG, sample_index=2)
    assert g.complete_sync(model="fake/r", messages=MSG, sample_index=0).cached  # free
    assert fake.stats("r").calls == 2


def test_cost_budget():
    with pytest.raises(BudgetExhausted, match=r"cost budget of \$0.5"):
        gw(budget=Budget(max_cost_usd=0.5, used_cost_usd=0.51)).complete_sync(model="fake/r", messages=MSG)


def test_concurrency_limit_is_respected():
    fake.script("slow", lambda messages: "x", delay_s=0.05)
    g = gw(concurrency=3)

    async def many():
        await asyncio.gather(*(g.complete(model="fake/slow", messages=MSG, sample_index=i) for i in range(12)))

    asyncio.run(many())
    s = fake.stats("slow")
    assert s.calls == 12 and s.max_in_flight == 3


def test_concurrent_callers_cannot_overshoot_the_call_budget():
    fake.script("slow", lambda messages: "x", delay_s=0.02)
    g = gw(concurrency=8, budget=Budget(max_calls=5))

    async def many():
        return await asyncio.gather(*(g.complete(model="fake/slow", messages=MSG, sample_index=i) for i in range(10)),
                                    return_exceptions=True)

    results = asyncio.run(many())
    assert sum(not isinstance(r, Exception) for r in results) == 5
    assert all(isinstance(r, BudgetExhausted) for r in results if isinstance(r, Exception))


def test_missing_api_key_names_the_variable(monkeypatch):
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    with pytest.raises(MissingAPIKey, match="ANTHROPIC_API_KEY"):
        gw().complete_sync(model="anthropic/claude-3-5-haiku-latest", messages=MSG)


def test_unknown_model():
    with pytest.raises(UnknownModel, match="unknown model 'gpt-nonexistent-9'"):
        gw().complete_sync(model="gpt-nonexistent-9", messages=MSG)


def test_unreachable_api_base():
    # Port 9 (discard) on loopback: nothing listens, the connection is refused at once.
    with pytest.raises(Unreachable, match="cannot reach http://127.0.0.1:9"):
        gw(api_base="http://127.0.0.1:9", max_retries=1, timeout_s=5).complete_sync(model="openai/any", messages=MSG)


def test_prefill_prefix_is_passed_and_not_returned():
    seen = {}

    def respond(messages):
        seen["last"] = messages[-1]
        return "    return 1\n```"

    fake.script("p", respond)
    msgs = MSG + [{"role": "assistant", "content": "```python\ndef f():\n"}]
    resp = gw().complete_sync(model="fake/p", messages=msgs)
    assert seen["last"]["role"] == "assistant" and resp.text == "    return 1\n```"


def test_no_socket_at_import_or_fake_call():
    """Import discover.llm, build a gateway and make a fake call with every non-loopback connect failing loudly."""
    code = r'''
import socket
real = socket.socket.connect
def guarded(self, address):
    host = address[0] if isinstance(address, tuple) else str(address)
    if not (host.startswith("127.") or host in ("::1", "localhost")):
        raise SystemExit(f"network touched: {address}")
    return real(self, address)
socket.socket.connect = guarded
socket.create_connection = lambda *a, **k: (_ for _ in ()).throw(SystemExit(f"network touched: {a}"))
import discover.llm
from discover.llm import Gateway, fake
fake.script("n", ["hello"])
assert Gateway().complete_sync(model="fake/n", messages=[{"role": "user", "content": "x"}]).text == "hello"
print("NO-NETWORK-OK")
'''
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert "NO-NETWORK-OK" in out.stdout, out.stdout + out.stderr


def test_importing_discover_llm_does_not_import_litellm():
    out = subprocess.run([sys.executable, "-c", "import sys, discover.llm, discover.cli; print('litellm' in sys.modules)"],
                         capture_output=True, text=True, timeout=60)
    assert out.stdout.strip() == "False", out.stderr
