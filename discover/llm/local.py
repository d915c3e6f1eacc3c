"""The embedded model: llama.cpp in-process through cyllama, as the litellm provider `local/`.

One model is loaded per process (loading another name replaces it). Concurrent calls are decoded together by a
batching engine (local_batch.py): up to MAX_SLOTS sequences in one llama context, each with its own sampler,
stop strings and KV prefix reuse; the gateway runs up to that many local calls at once. Threads follow the cores
left free by other processes (free_cores.py). The model's own chat template (from the GGUF) is applied; a
trailing assistant message is a prefix the model continues (prefill), and the returned text excludes it."""

from __future__ import annotations

import asyncio
import atexit
import concurrent.futures
import hashlib
import json
import threading
import time
from typing import Any

from litellm import CustomLLM
from litellm.types.utils import ModelResponse

from discover.errors import LLMError, ModelFileError
from discover.llm.free_cores import usable_cores
from discover.llm.local_batch import BatchEngine, Generation, Request, supported
from discover.llm.modelfile import ensure_model_file, runtime_problem, spec_for

_load_lock = threading.Lock()   # guards _loaded and _engines
_gen_lock = threading.Lock()    # a runtime without the batch API: one generation at a time
_loaded: dict[str, Any] = {}     # {"name": str, "llm": cyllama.LLM}
_engines: dict[str, BatchEngine] = {}
_batching: dict[str, Any] = {}   # {"problem": str | None}, checked once
_last: dict[str, int] = {"reused": 0}

N_CTX = 8192     # the longest prompt + answer one call may have
MAX_SLOTS = 4    # sequences decoded together; 4 gave 2.1-2.4x the tokens/s of 1 on 2 cores, more adds little
ENGINE_CTX = 2 * N_CTX  # KV cells shared by all slots (unified cache; a shared prefix is stored once)


def n_threads() -> int:
    """The most threads the model may use (the engine uses fewer while other processes hold cores)."""
    return len(usable_cores())


def _load(name: str):
    with _load_lock:
        if _loaded.get("name") == name:
            return _loaded["llm"]
        problem = runtime_problem()
        if problem:
            raise LLMError(f"the embedded model needs the cyllama runtime: {problem}")
        path = ensure_model_file(name)
        from cyllama import LLM

        for old_name in list(_engines):  # fails what is still queued there with a one-line LLMError
            _engines.pop(old_name).close()
        old = _loaded.pop("llm", None)
        if old is not None:
            with _gen_lock:
                old.close()
        try:
            llm = LLM(str(path), n_ctx=N_CTX, verbose=False)
        except (ValueError, OSError, RuntimeError) as exc:
            raise ModelFileError(f"cannot load local/{name} from {path}: {exc} (delete the file to rebuild it)",
                                 model=name) from exc
        _loaded.update(name=name, llm=llm)
        return llm


def loaded_model() -> str | None:
    return _loaded.get("name")


def build_prompt(llm, messages: list[dict[str, Any]]) -> tuple[str, str]:
    """-> (prompt text for the model, prefill prefix). The chat template is applied to everything but a trailing
    assistant message, which is appended verbatim so the model continues it."""
    prefix = ""
    if messages and messages[-1].get("role") == "assistant":
        prefix = str(messages[-1].get("content") or "")
        messages = messages[:-1]
    msgs = [{"role": m["role"], "content": str(m.get("content") or "")} for m in messages]
    prompt = llm._apply_template(msgs, None, True) if hasattr(llm, "_apply_template") else None
    if prompt is None:
        from cyllama import apply_chat_template

        prompt = apply_chat_template(msgs, llm.model_path)
    return prompt + prefix, prefix


def _seed(model: str, messages: list[dict[str, Any]], optional_params: dict[str, Any]) -> int:
    if optional_params.get("seed") is not None:
        return int(optional_params["seed"]) & 0x7FFFFFFF
    digest = hashlib.sha256(json.dumps([model, messages], sort_keys=True).encode()).digest()
    return int.from_bytes(digest[:4], "big") & 0x7FFFFFFF


def _model_name(model: str) -> str:
    return model.split("/", 1)[1] if model.startswith("local/") else model


def _sampler(temperature: float, seed: int):
    """cyllama's default chain (min_p 0.05, top_k 40, top_p 0.95, temperature, seeded draw); greedy at 0."""
    from cyllama.llama.llama_cpp import LlamaSampler, LlamaSamplerChainParams

    params = LlamaSamplerChainParams()
    params.no_perf = True
    sampler = LlamaSampler(params)
    if temperature <= 0.0:
        sampler.add_greedy()
    else:
        sampler.add_min_p(0.05, 1)
        sampler.add_top_k(40)
        sampler.add_top_p(0.95, 1)
        sampler.add_temp(temperature)
        sampler.add_dist(seed)
    return sampler


@atexit.register
def _close_engines() -> None:
    # Stop the workers before the interpreter tears down what a decode in progress still uses.
    for engine in list(_engines.values()):
        engine.close()


def _engine(name: str, llm) -> BatchEngine | None:
    """The batching engine over the loaded model, or None where this cyllama cannot batch."""
    if batching_problem():
        return None
    with _load_lock:
        engine = _engines.get(name)
        if engine is None or not engine.alive():  # a worker that died has failed its callers; start afresh
            engine = _engines[name] = BatchEngine(llm, slots=MAX_SLOTS, n_ctx=ENGINE_CTX, name=f"local/{name}")
        return engine


def batching_problem() -> str | None:
    if "problem" not in _batching:
        _batching["problem"] = supported()
    return _batching["problem"]


def parallel_slots(wanted: int) -> int:
    """How many local calls to run at once for a caller that wants `wanted`: they are decoded together."""
    return 1 if batching_problem() else max(1, min(int(wanted), MAX_SLOTS))


def _prepare(model: str, messages: list[dict[str, Any]], max_tokens: int) -> tuple[str, Any, str, list[int]]:
    name = _model_name(model)
    spec_for(name)  # UnknownModel before anything heavy
    llm = _load(name)
    prompt, _prefix = build_prompt(llm, messages)
    tokens = list(llm.vocab.tokenize(prompt, add_special=True, parse_special=True))
    if len(tokens) + int(max_tokens) > N_CTX:
        raise LLMError(f"local/{name}: prompt of {len(tokens)} tokens + max_tokens {int(max_tokens)} exceeds the "
                       f"context of {N_CTX} tokens")
    return name, llm, prompt, tokens


def start_generation(model: str, messages: list[dict[str, Any]], max_tokens: int = 512, temperature: float = 0.8,
                     seed: int | None = None, stop: list[str] | None = None,
                     cancelled: threading.Event | None = None) -> concurrent.futures.Future:
    """Queue a generation (loading the model first if needed). -> a future of a Generation; it fails with
    LLMError when `cancelled` is set (see cancel())."""
    name, llm, prompt, tokens = _prepare(model, messages, max_tokens)
    seed = (seed if seed is not None else 0) & 0x7FFFFFFF
    temperature = max(0.0, float(temperature))
    stops = [s for s in (stop or []) if s]
    engine = _engine(name, llm)
    if engine is None:
        return _generate_plainly(llm, prompt, len(tokens), max_tokens, temperature, seed, stops)
    return engine.submit(Request(tokens=tokens, max_tokens=int(max_tokens), stops=stops,
                                 make_sampler=lambda: _sampler(temperature, seed),
                                 cancelled=cancelled or threading.Event()))


def _generate_plainly(llm, prompt: str, n_prompt: int, max_tokens: int, temperature: float, seed: int,
                      stops: list[str]) -> concurrent.futures.Future:
    """One call at a time through cyllama's own loop (a runtime without the batching API)."""
    from cyllama import GenerationConfig

    fut: concurrent.futures.Future = concurrent.futures.Future()
    cfg = GenerationConfig(max_tokens=int(max_tokens), temperature=temperature, seed=seed, n_ctx=N_CTX,
                           stop_sequences=stops)
    with _gen_lock:
        resp = llm(prompt, config=cfg)
    n_out = int(getattr(getattr(resp, "stats", None), "generated_tokens", 0) or 0)
    fut.set_result(Generation(str(resp), n_prompt, n_out, 0, "eog"))
    return fut


def _finished(gen: Generation) -> Generation:
    _last["reused"] = gen.reused_tokens
    return gen


def generate(model: str, messages: list[dict[str, Any]], max_tokens: int = 512, temperature: float = 0.8,
             seed: int | None = None, stop: list[str] | None = None,
             cancelled: threading.Event | None = None) -> tuple[str, int, int]:
    """Run the embedded model. -> (text without the prefill prefix, prompt_tokens, completion_tokens)."""
    gen = _finished(start_generation(model, messages, max_tokens, temperature, seed, stop, cancelled).result())
    return gen.text, gen.prompt_tokens, gen.completion_tokens


async def agenerate(model: str, messages: list[dict[str, Any]], max_tokens: int = 512, temperature: float = 0.8,
                    seed: int | None = None, stop: list[str] | None = None) -> Generation:
    """generate() for asyncio: cancelling the task stops the sequence and frees its slot."""
    cancelled = threading.Event()
    try:
        fut = await asyncio.to_thread(start_generation, model, messages, max_tokens, temperature, seed, stop,
                                      cancelled)
        return _finished(await asyncio.wrap_future(fut))
    except asyncio.CancelledError:
        cancel(cancelled)
        raise


def _gbnf_literal(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n").replace("\r", "\\r") + '"'


def start_choice(model: str, messages: list[dict[str, Any]], labels: list[str],
                 cancelled: threading.Event | None = None) -> concurrent.futures.Future:
    """Queue a classification: greedy decoding under a grammar that allows only `labels`, so at every token the
    model's most probable continuation of some label wins. Where the labels differ in their first token this is
    the label with the highest log-probability. (cyllama 0.2.18's logits accessors are broken, so
    full-sequence label log-probabilities cannot be summed here.) -> a future of a Generation whose text is
    the label."""
    if not labels:
        raise LLMError("choose_label needs at least one label")
    name, llm, _prompt, tokens = _prepare(model, messages, 0)
    engine = _engine(name, llm)
    if engine is None:
        raise LLMError(f"local/{name}: choosing a label needs cyllama's batch API ({batching_problem()})")
    longest = max(len(llm.vocab.tokenize(label, add_special=False, parse_special=False)) for label in labels)
    grammar = "root ::= " + " | ".join(_gbnf_literal(x) for x in labels)

    def make_sampler():
        from cyllama.llama.llama_cpp import LlamaSampler, LlamaSamplerChainParams

        sampler = LlamaSampler(LlamaSamplerChainParams())
        sampler.add_grammar(llm.vocab, grammar, "root")
        sampler.add_greedy()
        return sampler

    return engine.submit(Request(tokens=tokens, max_tokens=longest + 1, make_sampler=make_sampler,
                                 done_when=lambda text: text in labels, cancelled=cancelled or threading.Event()))


def _label(model: str, labels: list[str], gen: Generation) -> tuple[str, int, int]:
    # A label that is a prefix of another ends where the grammar allows the end: take the longest match.
    chosen = max((x for x in labels if gen.text.startswith(x)), key=len, default=None)
    if chosen is None:
        raise LLMError(f"{model}: constrained answer {gen.text!r} matches no label")
    return chosen, gen.prompt_tokens, gen.completion_tokens


def choose_label(model: str, messages: list[dict[str, Any]], labels: list[str],
                 cancelled: threading.Event | None = None) -> tuple[str, int, int]:
    """-> (label, prompt tokens, generated tokens); see start_choice()."""
    labels = [str(x) for x in labels]
    return _label(model, labels, _finished(start_choice(model, messages, labels, cancelled).result()))


async def achoose_label(model: str, messages: list[dict[str, Any]], labels: list[str]) -> tuple[str, int, int]:
    labels = [str(x) for x in labels]
    cancelled = threading.Event()
    try:
        fut = await asyncio.to_thread(start_choice, model, messages, labels, cancelled)
        return _label(model, labels, _finished(await asyncio.wrap_future(fut)))
    except asyncio.CancelledError:
        cancel(cancelled)
        raise


def reused_prompt_tokens() -> int:
    """How many prompt tokens the last finished generation took from the KV cache instead of processing them."""
    return int(_last["reused"])


def engine_stats() -> dict[str, int]:
    """Token counts of the loaded model's batching engine since it started (prompt, reused, copied, completion)."""
    engine = _engines.get(_loaded.get("name", ""))
    return dict(engine.stats) if engine is not None else {}


def reset_prefix_cache() -> None:
    """Forget every cached prompt (after the running generations end): the next generations process their whole
    prompt."""
    for engine in list(_engines.values()):
        engine.reset()
    _last["reused"] = 0


def cancel(cancelled: threading.Event) -> None:
    """Stop the generation that owns `cancelled` (set it first); another caller's generation is left alone."""
    cancelled.set()
    for engine in list(_engines.values()):
        engine.wake_for_cancel()


class LocalLLM(CustomLLM):
    """litellm provider for `local/<model>`."""

    @staticmethod
    def _args(model: str, messages: list, optional_params: dict | None) -> dict[str, Any]:
        optional_params = optional_params or {}
        stop = optional_params.get("stop")
        return {"max_tokens": optional_params.get("max_tokens") or 512,
                "temperature": optional_params.get("temperature", 0.8),
                "seed": _seed(model, messages, optional_params), "stop": [stop] if isinstance(stop, str) else stop}

    @staticmethod
    def _response(model: str, gen: Generation, start: float) -> ModelResponse:
        resp = ModelResponse(model=model, choices=[{"message": {"role": "assistant", "content": gen.text},
                                                     "finish_reason": "stop"}],
                             usage={"prompt_tokens": gen.prompt_tokens, "completion_tokens": gen.completion_tokens,
                                    "total_tokens": gen.prompt_tokens + gen.completion_tokens})
        resp._hidden_params["generation_s"] = time.monotonic() - start
        return resp

    def completion(self, model: str, messages: list, *args: Any, optional_params: dict | None = None,
                   **kwargs: Any) -> ModelResponse:
        start = time.monotonic()
        fut = start_generation(model, messages, **self._args(model, messages, optional_params))
        return self._response(model, _finished(fut.result()), start)

    async def acompletion(self, model: str, messages: list, *args: Any, optional_params: dict | None = None,
                          **kwargs: Any) -> ModelResponse:
        # A timed-out or cancelled call stops generating (or never starts) and frees its slot (agenerate).
        start = time.monotonic()
        gen = await agenerate(model, messages, **self._args(model, messages, optional_params))
        return self._response(model, gen, start)


def register_local_provider() -> None:
    import litellm

    if not any(p["provider"] == "local" for p in litellm.custom_provider_map):
        litellm.custom_provider_map.append({"provider": "local", "custom_handler": LocalLLM()})
