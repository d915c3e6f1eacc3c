"""The embedded model: llama.cpp in-process through cyllama, as the litellm provider `local/`.

One model is loaded per process (loading another name replaces it) and generation is serialised by a lock: a
llama.cpp context is not thread-safe, and on a few CPU cores parallel generation would not be faster anyway.
Threads = the cores this process may use (os.sched_getaffinity); cyllama's default is 4, which oversubscribes
small machines. The model's own chat template (from the GGUF) is applied; a trailing assistant message is a
prefix the model continues (prefill), and the returned text excludes it."""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import threading
import time
from contextlib import contextmanager
from typing import Any

from litellm import CustomLLM
from litellm.types.utils import ModelResponse

from discover.errors import LLMError, ModelFileError
from discover.llm.modelfile import ensure_model_file, runtime_problem, spec_for

_load_lock = threading.Lock()   # guards _loaded
_gen_lock = threading.Lock()    # one generation at a time
_loaded: dict[str, Any] = {}     # {"name": str, "llm": cyllama.LLM}
_current: dict[str, Any] = {"cancel": None}  # the cancel event of the generation running now
# The last prompt's token ids: their keys/values sit in the KV cache at positions 0..n-1, for prefix reuse.
_kv: dict[str, Any] = {"tokens": [], "reused": 0}

N_CTX = 8192


def n_threads() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


def _load(name: str):
    with _load_lock:
        if _loaded.get("name") == name:
            return _loaded["llm"]
        problem = runtime_problem()
        if problem:
            raise LLMError(f"the embedded model needs the cyllama runtime: {problem}")
        path = ensure_model_file(name)
        from cyllama import LLM

        threads = n_threads()

        class _ThreadedLLM(LLM):
            # cyllama 0.2.x creates contexts with llama.cpp's default of 4 threads; use the cores we have.
            def _ensure_context(self, prompt_length, config):
                ctx = super()._ensure_context(prompt_length, config)
                try:
                    if ctx.n_threads() != threads:
                        ctx.set_n_threads(threads, threads)
                except Exception:  # older/newer runtime without these calls: keep its default
                    pass
                return ctx

        old = _loaded.pop("llm", None)
        if old is not None:
            with _gen_lock:
                old.close()
                _kv["tokens"] = []
        try:
            llm = _ThreadedLLM(str(path), n_ctx=N_CTX, verbose=False)
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


def generate(model: str, messages: list[dict[str, Any]], max_tokens: int = 512, temperature: float = 0.8,
             seed: int | None = None, stop: list[str] | None = None,
             cancelled: threading.Event | None = None) -> tuple[str, int, int]:
    """Run the embedded model. -> (text without the prefill prefix, prompt_tokens, completion_tokens)."""
    name = _model_name(model)
    spec_for(name)  # UnknownModel before anything heavy
    llm = _load(name)
    from cyllama import GenerationConfig

    with _gen_lock:
        prompt, _prefix = build_prompt(llm, messages)
        cfg = GenerationConfig(max_tokens=int(max_tokens), temperature=max(0.0, float(temperature)),
                               seed=seed if seed is not None else 0, n_ctx=N_CTX, stop_sequences=list(stop or []))
        tokens = _tokenize(llm, prompt, cfg)
        n_prompt = len(tokens)
        if n_prompt + cfg.max_tokens > N_CTX:
            raise LLMError(f"local/{name}: prompt of {n_prompt} tokens + max_tokens {cfg.max_tokens} exceeds the "
                           f"context of {N_CTX} tokens")
        with _running(name, cancelled):
            try:
                text, n_out = _generate_reusing_prefix(llm, tokens, cfg)
            except _NoLowLevelAPI:
                resp = llm(prompt, config=cfg)
                text, n_out = str(resp), int(getattr(getattr(resp, "stats", None), "generated_tokens", 0) or 0)
    return text, n_prompt, n_out


def _tokenize(llm, prompt: str, cfg) -> list[int]:
    return list(llm.vocab.tokenize(prompt, add_special=cfg.add_bos, parse_special=cfg.parse_special))


@contextmanager
def _running(name: str, cancelled: threading.Event | None):
    """Inside _gen_lock: refuse a call that timed out while it waited for the model, and let cancel() reach the
    generation that owns `cancelled`."""
    if cancelled is not None and cancelled.is_set():
        raise LLMError(f"local/{name}: cancelled before it started")
    _current["cancel"] = cancelled
    try:
        yield
    finally:
        _current["cancel"] = None


class _NoLowLevelAPI(Exception):
    """This cyllama lacks a call the prefix-reusing loop needs; use its plain generation instead."""


def common_prefix_len(a: list[int], b: list[int]) -> int:
    n = min(len(a), len(b))
    for i in range(n):
        if a[i] != b[i]:
            return i
    return n


def _low_level():
    try:
        from cyllama.llama.llama_cpp import llama_batch_get_one
    except ImportError as exc:
        raise _NoLowLevelAPI() from exc
    return llama_batch_get_one


def _process_prompt(llm, tokens: list[int], cfg, batch_one) -> Any:
    """Put `tokens` in the KV cache, reusing the longest prefix already there (what llama.cpp's server does with
    cache_prompt): prompt processing dominates on a CPU (~100 tokens/s on 2 cores here), and consecutive proposal
    prompts share the system message, the task text and, on a re-ask, nearly everything. -> the context, with the
    last prompt token's logits ready. InterruptedError if cancel() aborted it."""
    if not all(hasattr(llm, a) for a in ("_ensure_context", "_ensure_sampler", "_cancel_event", "vocab")):
        raise _NoLowLevelAPI()
    ctx = llm._ctx
    if ctx is None or getattr(llm, "_closed", False) or getattr(llm, "_ctx_size", 0) < cfg.n_ctx:
        ctx = llm._ensure_context(len(tokens), cfg)  # a new context (or a cleared one)
        ctx.kv_cache_clear()
        _kv["tokens"] = []
    # Keep the shared prefix but decode at least the last two prompt tokens in one batch: llama.cpp computes a
    # single-token batch with other kernels (other float rounding). Generated tokens (decoded one at a time) are
    # never reused for that reason.
    keep = max(0, min(common_prefix_len(_kv["tokens"], tokens), len(tokens) - 2))
    if not ctx.memory_seq_rm(0, keep, -1):  # drop the rest of the old prompt and the old answer
        ctx.kv_cache_clear()
        keep = 0
    _kv["tokens"], _kv["reused"] = tokens[:keep], keep
    llm._cancel_event.clear()
    ctx.cancel = False
    for i in range(keep, len(tokens), cfg.n_batch):
        if llm._cancel_event.is_set():
            raise InterruptedError("cancelled")
        chunk = tokens[i:i + cfg.n_batch]
        ctx.decode(batch_one(chunk, i))
        _kv["tokens"].extend(chunk)
    return ctx


def _forget_kv(llm) -> None:
    ctx = getattr(llm, "_ctx", None)
    if ctx is not None:
        ctx.kv_cache_clear()
    _kv["tokens"] = []


def _generate_reusing_prefix(llm, tokens: list[int], cfg) -> tuple[str, int]:
    """Generate like cyllama's LLM.__call__, but with the prompt prefix reused from the KV cache.
    -> (text, generated token count)."""
    batch_one = _low_level()
    try:
        ctx = _process_prompt(llm, tokens, cfg, batch_one)
        sampler = llm._ensure_sampler(cfg)
        pieces: list[str] = []
        n_out = 0
        stops = [s for s in (cfg.stop_sequences or []) if s]
        for _ in range(cfg.max_tokens):
            if llm._cancel_event.is_set():
                break
            token = sampler.sample(ctx, -1)
            if llm.vocab.is_eog(token):
                break
            try:
                pieces.append(llm.vocab.token_to_piece(token, special=True))
            except UnicodeDecodeError:
                pass
            n_out += 1
            if stops:
                text = "".join(pieces)
                cut = min((p for p in (text.find(s) for s in stops) if p >= 0), default=-1)
                if cut >= 0:
                    return text[:cut], n_out
            ctx.decode(batch_one([token], len(tokens) + n_out - 1))
        return "".join(pieces), n_out
    except InterruptedError:  # cancel() aborted a decode mid-batch: whatever it wrote is unknown, start clean
        _forget_kv(llm)
        return "", 0
    except BaseException:
        _forget_kv(llm)
        raise


def _gbnf_literal(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n").replace("\r", "\\r") + '"'


def choose_label(model: str, messages: list[dict[str, Any]], labels: list[str],
                 cancelled: threading.Event | None = None) -> tuple[str, int, int]:
    """Classify by answering with exactly one of `labels`: greedy decoding under a grammar that allows only the
    labels, so at every token the model's most probable continuation of some label wins. Where the labels differ
    in their first token this is the label with the highest log-probability. (cyllama 0.2.18's logits accessors
    are broken, so full-sequence label log-probabilities cannot be summed here.)
    -> (label, prompt tokens, generated tokens)."""
    name = _model_name(model)
    spec_for(name)
    if not labels:
        raise LLMError("choose_label needs at least one label")
    llm = _load(name)
    from cyllama import GenerationConfig

    batch_one = _low_level()
    longest = max(len(llm.vocab.tokenize(label, add_special=False, parse_special=False)) for label in labels)
    with _gen_lock:
        prompt, _prefix = build_prompt(llm, messages)
        cfg = GenerationConfig(max_tokens=longest + 1, temperature=0.0, n_ctx=N_CTX)
        tokens = _tokenize(llm, prompt, cfg)
        with _running(name, cancelled):
            return _choose_under_grammar(llm, name, tokens, labels, cfg, batch_one)


def _choose_under_grammar(llm, name: str, tokens: list[int], labels: list[str], cfg,
                          batch_one) -> tuple[str, int, int]:
    from cyllama.llama.llama_cpp import LlamaSampler, LlamaSamplerChainParams

    try:
        ctx = _process_prompt(llm, tokens, cfg, batch_one)
        sampler = LlamaSampler(LlamaSamplerChainParams())
        sampler.add_grammar(llm.vocab, "root ::= " + " | ".join(_gbnf_literal(x) for x in labels), "root")
        sampler.add_greedy()
        text, n_out = "", 0
        while n_out < cfg.max_tokens and text not in labels:
            token = sampler.sample(ctx, -1)
            if llm.vocab.is_eog(token):
                break
            text += llm.vocab.token_to_piece(token, special=True)
            ctx.decode(batch_one([token], len(tokens) + n_out))
            n_out += 1
        # A label that is a prefix of another ends where the grammar allows the end: take the longest match.
        chosen = max((x for x in labels if text.startswith(x)), key=len, default=None)
        if chosen is None:
            raise LLMError(f"local/{name}: constrained answer {text!r} matches no label")
        return chosen, len(tokens), n_out
    except InterruptedError:
        _forget_kv(llm)
        raise LLMError(f"local/{name}: cancelled") from None
    except BaseException:
        _forget_kv(llm)
        raise


def reused_prompt_tokens() -> int:
    """How many prompt tokens the last generation took from the KV cache instead of processing them."""
    return int(_kv["reused"])


def reset_prefix_cache() -> None:
    """Forget the cached prompt: the next generation processes its whole prompt."""
    with _gen_lock:
        _forget_kv(_loaded.get("llm"))
        _kv["reused"] = 0


def cancel(cancelled: threading.Event) -> None:
    """Stop the generation that owns `cancelled` (set it first); another caller's generation is left alone."""
    cancelled.set()
    llm = _loaded.get("llm")
    if llm is not None and _current.get("cancel") is cancelled:
        try:
            llm.cancel()
        except Exception:
            pass


class LocalLLM(CustomLLM):
    """litellm provider for `local/<model>`."""

    def _run(self, model: str, messages: list, optional_params: dict | None,
             cancelled: threading.Event | None = None) -> ModelResponse:
        optional_params = optional_params or {}
        stop = optional_params.get("stop")
        if isinstance(stop, str):
            stop = [stop]
        start = time.monotonic()
        text, n_prompt, n_out = generate(model, messages, max_tokens=optional_params.get("max_tokens") or 512,
                                         temperature=optional_params.get("temperature", 0.8),
                                         seed=_seed(model, messages, optional_params), stop=stop,
                                         cancelled=cancelled)
        resp = ModelResponse(model=model, choices=[{"message": {"role": "assistant", "content": text},
                                                     "finish_reason": "stop"}],
                             usage={"prompt_tokens": n_prompt, "completion_tokens": n_out,
                                    "total_tokens": n_prompt + n_out})
        resp._hidden_params["generation_s"] = time.monotonic() - start
        return resp

    def completion(self, model: str, messages: list, *args: Any, optional_params: dict | None = None,
                   **kwargs: Any) -> ModelResponse:
        return self._run(model, messages, optional_params)

    async def acompletion(self, model: str, messages: list, *args: Any, optional_params: dict | None = None,
                          **kwargs: Any) -> ModelResponse:
        cancelled = threading.Event()
        try:
            return await asyncio.to_thread(self._run, model, messages, optional_params, cancelled)
        except asyncio.CancelledError:
            cancel(cancelled)  # a timed-out call stops generating (or never starts) instead of holding the model
            raise


def register_local_provider() -> None:
    import litellm

    if not any(p["provider"] == "local" for p in litellm.custom_provider_map):
        litellm.custom_provider_map.append({"provider": "local", "custom_handler": LocalLLM()})
