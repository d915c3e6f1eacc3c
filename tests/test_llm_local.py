"""The real embedded model (Qwen2.5-Coder-0.5B via cyllama) through the gateway. Skips, saying why, when the
runtime or the model's chunk packages are not installed."""

import asyncio

import pytest

from discover.errors import LLMCallFailed
from discover.llm import Gateway, MemoryCallLog
from discover.llm.modelfile import MODELS, is_ready, parts_installed, runtime_problem

pytestmark = [pytest.mark.local_llm, pytest.mark.slow]
MODEL = "local/qwen2.5-coder-0.5b"


@pytest.fixture(scope="module", autouse=True)
def _needs_model():
    problem = runtime_problem()
    if problem:
        pytest.skip(f"embedded model runtime missing: {problem}")
    spec = MODELS["qwen2.5-coder-0.5b"]
    if not (is_ready(spec) or parts_installed(spec)):
        pytest.skip(f"embedded model not installed; fix: {spec.pip_command}")


def test_prefill_continues_the_prefix_and_returns_only_the_continuation():
    msgs = [{"role": "user", "content": "Complete the function. Reply with code only."},
            {"role": "assistant", "content": "```python\ndef add(a, b):\n    return"}]
    resp = Gateway().complete_sync(model=MODEL, messages=msgs, temperature=0.0, max_tokens=12)
    assert not resp.text.startswith("```python")
    assert "a + b" in resp.text or "b + a" in resp.text, resp.text
    assert resp.prompt_tokens > 10 and 0 < resp.completion_tokens <= 12 and resp.cost_usd == 0.0


def test_samples_are_seeded_by_the_cache_key():
    from discover.llm import local

    msgs = [{"role": "user", "content": "Name one random animal. One word."}]
    local.reset_prefix_cache()  # both samples from a cold cache (see the prefix-reuse test for why)
    a0 = Gateway(call_log=MemoryCallLog()).complete_sync(model=MODEL, messages=msgs, max_tokens=6, temperature=1.0)
    local.reset_prefix_cache()
    a0_again = Gateway(call_log=MemoryCallLog()).complete_sync(model=MODEL, messages=msgs, max_tokens=6,
                                                                temperature=1.0)
    assert a0.text == a0_again.text and not a0_again.cached  # same key, fresh log: same sample


def test_a_shared_prompt_prefix_is_reused_from_the_kv_cache():
    # Not bit-identical to a cold cache: llama.cpp's float rounding depends on how the prompt was split into
    # batches, so even a greedy answer can flip at a near-tie. What must hold: the prefix is reused, the answer
    # is as good, and the accounting is unchanged.
    from discover.llm import local

    context = "Fruits: apple, pear, plum, cherry, mango, kiwi, lime, fig. " * 20
    first = [{"role": "user", "content": context + "Name one of the fruits."}]
    second = [{"role": "user", "content": context + "Name two of the fruits."}]
    Gateway(call_log=MemoryCallLog()).complete_sync(model=MODEL, messages=first, max_tokens=6, temperature=0.0)
    warm = Gateway(call_log=MemoryCallLog()).complete_sync(model=MODEL, messages=second, max_tokens=20,
                                                            temperature=0.0)
    assert local.reused_prompt_tokens() > 200  # the shared context was not processed again
    local.reset_prefix_cache()
    cold = Gateway(call_log=MemoryCallLog()).complete_sync(model=MODEL, messages=second, max_tokens=20,
                                                            temperature=0.0)
    assert local.reused_prompt_tokens() == 0
    listed = ("apple", "pear", "plum", "cherry", "mango", "kiwi", "lime", "fig")
    for answer in (warm.text.lower(), cold.text.lower()):
        assert sum(fruit in answer for fruit in listed) >= 2, answer
    assert warm.prompt_tokens == cold.prompt_tokens  # reuse changes the work, not the accounting


def test_the_model_chooses_among_labels_under_a_grammar():
    g = Gateway(call_log=MemoryCallLog())
    ask = "Classify the sentiment of the review as positive or negative.\nReview: {}"
    labels = ["positive", "negative", "mixed feelings"]

    happy = asyncio.run(g.choose(MODEL, [{"role": "user", "content": ask.format("I loved it, wonderful film.")}], labels))
    sad = asyncio.run(g.choose(MODEL, [{"role": "user", "content": ask.format("Awful. I walked out.")}], labels))
    assert (happy.text, sad.text) == ("positive", "negative")
    assert happy.prompt_tokens > 10 and 1 <= happy.completion_tokens <= 4 and not happy.cached


def test_timeout_stops_the_generation_and_the_model_stays_usable():
    g = Gateway(max_retries=0, concurrency=1)  # one call at a time: the timeout is not scaled for batching
    long = [{"role": "user", "content": "Count from 1 to 500, one number per line."}]
    with pytest.raises(LLMCallFailed, match="timed out after 0.2 s"):
        g.complete_sync(model=MODEL, messages=long, max_tokens=600, timeout_s=0.2)
    ok = g.complete_sync(model=MODEL, messages=[{"role": "user", "content": "Say OK."}], max_tokens=4,
                         temperature=0.0)
    assert ok.text.strip()


def test_embedded_model_runs_with_the_network_blocked():
    import subprocess
    import sys

    code = r'''
import socket
real = socket.socket.connect
def guarded(self, address):
    host = address[0] if isinstance(address, tuple) else str(address)
    if not (host.startswith("127.") or host in ("::1", "localhost")):
        raise SystemExit(f"network touched: {address}")
    return real(self, address)
socket.socket.connect = guarded
from discover.llm import Gateway
r = Gateway().complete_sync(model="local/qwen2.5-coder-0.5b", messages=[{"role": "user", "content": "Say OK."}],
                            max_tokens=3, temperature=0.0)
print("LOCAL-NO-NETWORK-OK", r.completion_tokens)
'''
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=240)
    assert "LOCAL-NO-NETWORK-OK" in out.stdout, out.stdout + out.stderr
