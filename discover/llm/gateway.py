"""One gateway for every LLM call: litellm (OpenAI, Anthropic, OpenAI-compatible servers, Ollama) and the
in-process providers. Async with a concurrency limit, retried with backoff, cached by prompt hash, every call
recorded (before its text is used) with tokens, cost and latency, and a budget that stops a run."""

from __future__ import annotations

import asyncio
import os
import random
import time
from typing import Any

from discover.errors import (
    ConfigError, DiscoverError, LLMCallFailed, LLMError, MissingAPIKey, UnknownModel, Unreachable,
)
from discover.llm.providers import handles_prefill, in_process, litellm_module
from discover.llm.records import Budget, CallLog, CallRecord, LLMResponse, MemoryCallLog, call_key

RETRYABLE = ("RateLimitError", "Timeout", "InternalServerError", "ServiceUnavailableError", "BadGatewayError",
             "APIConnectionError", "TimeoutError")
NOT_RETRYABLE = {"AuthenticationError": "auth", "PermissionDeniedError": "auth", "NotFoundError": "not_found",
                 "BadRequestError": "bad_request", "ContextWindowExceededError": "bad_request",
                 "UnsupportedParamsError": "bad_request", "ContentPolicyViolationError": "bad_request"}
KEYLESS_PROVIDERS = {"local", "fake", "ollama", "ollama_chat", "hosted_vllm", "llamafile", "lm_studio"}


def _chain(exc: BaseException) -> list[BaseException]:
    seen: list[BaseException] = []
    while exc is not None and exc not in seen:
        seen.append(exc)
        exc = exc.__cause__ or exc.__context__
    return seen


def classify(exc: BaseException) -> tuple[str, BaseException]:
    """-> ('ours'|'retry'|'auth'|'not_found'|'bad_request'|'other', the exception that decided it).
    litellm wraps what custom providers raise, so look down the whole chain, innermost decisive class first."""
    chain = _chain(exc)
    for e in chain:
        if isinstance(e, DiscoverError):
            return "ours", e
    for e in reversed(chain):
        names = {c.__name__ for c in type(e).__mro__}
        for name, kind in NOT_RETRYABLE.items():
            if name in names:
                return kind, e
        if names & set(RETRYABLE) - {"APIConnectionError"}:
            return "retry", e
    if any("APIConnectionError" in {c.__name__ for c in type(e).__mro__} for e in chain) or isinstance(exc, asyncio.TimeoutError):
        return "retry", exc
    return "other", exc


def _expected_keys(provider: str) -> list[str]:
    # An empty variable counts as missing (litellm only checks presence).
    return {"openai": ["OPENAI_API_KEY"], "anthropic": ["ANTHROPIC_API_KEY"]}.get(provider, [])


def _is_connection_failure(exc: BaseException) -> bool:
    # litellm reports a refused connection as APIConnectionError or as InternalServerError("Connection error").
    names = {c.__name__ for c in type(exc).__mro__}
    return "APIConnectionError" in names or "connection error" in str(exc).lower() or "connect" in str(exc).lower()


class _no_lock:
    async def __aenter__(self) -> None:
        return None

    async def __aexit__(self, *exc: object) -> None:
        return None


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return text.replace("litellm.", "")[:300]


class Gateway:
    def __init__(self, call_log: CallLog | None = None, budget: Budget | None = None, concurrency: int = 4,
                 timeout_s: float = 120.0, max_retries: int = 4, api_base: str | None = None,
                 backoff_s: float = 1.0, backoff_max_s: float = 30.0, continue_prefill: bool = False) -> None:
        """`continue_prefill`: the server behind `api_base` continues a trailing assistant message when the request
        says `continue_final_message` (vLLM; llama.cpp's server and Ollama continue it by themselves and ignore
        the field). Without it a chat template closes the prefilled turn and a small model starts a new answer."""
        self.continue_prefill = continue_prefill
        self.call_log = call_log if call_log is not None else MemoryCallLog()
        self.budget = budget or Budget()
        self.concurrency = concurrency
        self.timeout_s = timeout_s
        self.max_retries = max_retries
        self.api_base = api_base
        self.backoff_s = backoff_s
        self.backoff_max_s = backoff_max_s
        self._semaphores: dict[int, asyncio.Semaphore] = {}
        self._local_sems: dict[int, asyncio.Semaphore] = {}

    def _semaphore(self) -> asyncio.Semaphore:
        # One per event loop: a Gateway may serve several asyncio.run() calls (e.g. complete_sync).
        loop_id = id(asyncio.get_running_loop())
        if loop_id not in self._semaphores:
            self._semaphores[loop_id] = asyncio.Semaphore(self.concurrency)
        return self._semaphores[loop_id]

    def check_model(self, model: str) -> None:
        """Fail fast, before any network: unknown provider, or a missing API key (naming the variable)."""
        litellm = litellm_module()
        provider = model.split("/", 1)[0] if "/" in model else ""
        if provider == "local":
            from discover.llm.modelfile import spec_for

            spec_for(model)  # UnknownModel naming the embedded models
            return
        if provider == "fake":
            return
        try:
            _, provider, _, _ = litellm.get_llm_provider(model, api_base=self.api_base)
        except Exception as exc:
            raise UnknownModel(f"unknown model {model!r}: name a provider, e.g. openai/gpt-4o-mini, "
                               f"anthropic/claude-3-5-haiku-latest, ollama/qwen2.5-coder, local/qwen2.5-coder-0.5b",
                               model=model) from exc
        if provider in KEYLESS_PROVIDERS or self.api_base:
            return
        env = litellm.validate_environment(model)
        missing = [k for k in (env.get("missing_keys") or [])]
        missing += [k for k in _expected_keys(provider) if not os.environ.get(k) and k not in missing]
        if missing:
            raise MissingAPIKey(f"{model} needs {' and '.join(missing)} set in the environment", model=model, missing=missing)

    async def complete(self, model: str, messages: list[dict[str, Any]], temperature: float = 0.8,
                       max_tokens: int = 700, sample_index: int = 0, role: str = "propose",
                       timeout_s: float | None = None, stop: list[str] | None = None) -> LLMResponse:
        """One completion. A trailing assistant message is a prefix the model continues; the text excludes it.
        `stop` ends the text before the first of these strings. `timeout_s` overrides the gateway's per-call
        timeout (not part of the cache key)."""
        params: dict[str, Any] = {"temperature": temperature, "max_tokens": max_tokens}
        if stop:
            params["stop"] = list(stop)
        key = call_key(model, messages, {**params, **self._server_prefill(model, messages)}, sample_index)
        cached = self._replay(model, key)
        if cached is not None:
            return cached
        self.check_model(model)
        sem = self._semaphore()
        await sem.acquire()
        held = [True]

        def release() -> None:  # the slot is free once the answer is in: cost and record happen outside it
            if held[0]:
                held[0] = False
                sem.release()

        try:
            self.budget.reserve()  # inside the limit, so waiting callers see what those before them spent
            return await self._paid_call(model, messages, params, key, role, sample_index, timeout_s, release)
        finally:
            release()

    async def _paid_call(self, model: str, messages: list[dict[str, Any]], params: dict[str, Any], key: str,
                         role: str, sample_index: int, timeout_s: float | None = None,
                         release: Any = None) -> LLMResponse:
        paid = False
        cost = 0.0
        try:
            resp, latency = await self._call_with_retries(model, messages, params, key,
                                                          timeout_s if timeout_s is not None else self.timeout_s)
            if release is not None:
                release()
            text = resp.choices[0].message.content or ""
            prefix = messages[-1]["content"] if messages and messages[-1]["role"] == "assistant" else ""
            if prefix and not handles_prefill(model) and text.startswith(prefix):
                text = text[len(prefix):]
            usage = getattr(resp, "usage", None)
            prompt_tokens = int(getattr(usage, "prompt_tokens", 0) or 0)
            completion_tokens = int(getattr(usage, "completion_tokens", 0) or 0)
            cost = self._cost(resp, model)
            paid = True
            rec = CallRecord(key=key, model=model, role=role, messages=messages, params=params,
                             sample_index=sample_index, response=text, prompt_tokens=prompt_tokens,
                             completion_tokens=completion_tokens, cost_usd=cost, latency_s=latency)
            self.call_log.record(rec)  # persisted before the caller sees the text
            return LLMResponse(text=text, prompt_tokens=prompt_tokens, completion_tokens=completion_tokens,
                               cost_usd=cost, latency_s=latency, cached=False, model=model, key=key)
        except LLMError as exc:
            self.call_log.record(CallRecord(key=key, model=model, role=role, messages=messages, params=params,
                                            sample_index=sample_index, error=exc.message))
            raise
        finally:
            self.budget.settle(cost, paid)

    async def choose(self, model: str, messages: list[dict[str, Any]], labels: list[str],
                     role: str = "task") -> LLMResponse:
        """Classification: the model answers with exactly one of `labels` (its text), decoded under a grammar
        that allows only them (local models; `fake/` for tests). Cached, persisted and budgeted like complete()."""
        if not in_process(model):
            raise ConfigError(f"choosing by label probability needs an in-process model (local/...); {model} "
                              f"returns text only: use the 'choice' scorer, which maps its answer to a label")
        labels = [str(x) for x in labels]
        params: dict[str, Any] = {"choose": labels}
        key = call_key(model, messages, params, 0)
        cached = self._replay(model, key)
        if cached is not None:
            return cached
        self.check_model(model)
        async with self._semaphore():
            self.budget.reserve()
            paid = False
            try:
                start = time.monotonic()
                if model.startswith("local/"):
                    from discover.llm import local

                    async with self._local_slots():
                        label, n_prompt, n_out = await local.achoose_label(model, messages, labels)
                else:
                    from discover.llm import fake

                    label, n_prompt, n_out = await fake.choose(model, messages, labels)
                latency = time.monotonic() - start
                paid = True
                self.call_log.record(CallRecord(key=key, model=model, role=role, messages=messages, params=params,
                                                sample_index=0, response=label, prompt_tokens=n_prompt,
                                                completion_tokens=n_out, cost_usd=0.0, latency_s=latency))
                return LLMResponse(text=label, prompt_tokens=n_prompt, completion_tokens=n_out, cost_usd=0.0,
                                   latency_s=latency, cached=False, model=model, key=key)
            except LLMError as exc:
                self.call_log.record(CallRecord(key=key, model=model, role=role, messages=messages, params=params,
                                                sample_index=0, error=exc.message))
                raise LLMCallFailed(f"{model}: {exc.message}", model=model) from exc
            finally:
                self.budget.settle(0.0, paid)

    def _replay(self, model: str, key: str) -> LLMResponse | None:
        """A response already bought under `key`, logged again as a free cache hit; None if there is none."""
        hit = self.call_log.get_cached(key)
        if hit is None:
            return None
        self.call_log.record(hit.model_copy(update={"cached": True, "cost_usd": 0.0, "latency_s": 0.0,
                                                    "created_at": time.time()}))
        return LLMResponse(text=hit.response or "", prompt_tokens=hit.prompt_tokens,
                           completion_tokens=hit.completion_tokens, cost_usd=0.0, latency_s=0.0, cached=True,
                           model=model, key=key)

    def complete_sync(self, *args: Any, **kwargs: Any) -> LLMResponse:
        return asyncio.run(self.complete(*args, **kwargs))

    def _local_slots(self) -> asyncio.Semaphore:
        # The embedded model decodes up to local.parallel_slots() calls together (one batch); the rest queue here,
        # outside the per-call timeout.
        loop_id = id(asyncio.get_running_loop())
        if loop_id not in self._local_sems:
            from discover.llm import local

            self._local_sems[loop_id] = asyncio.Semaphore(local.parallel_slots(self.concurrency))
        return self._local_sems[loop_id]

    async def _call_with_retries(self, model: str, messages: list[dict[str, Any]], params: dict[str, Any],
                                 key: str = "", timeout_s: float | None = None):
        litellm = litellm_module()
        timeout_s = self.timeout_s if timeout_s is None else timeout_s
        if model.startswith("local/"):
            from discover.llm import local

            # Calls decoded together share the CPU: each takes up to that many times longer than it would alone.
            timeout_s *= local.parallel_slots(self.concurrency)
        extra: dict[str, Any] = self._key_for_keyless_server(model)
        if self._server_prefill(model, messages):
            extra["extra_body"] = self._server_prefill(model, messages)
        if handles_prefill(model):
            # In-process models sample with a seed from the cache key: another sample_index, another sample;
            # the same key, the same text, up to float rounding where prefix reuse or a batch shared with other
            # calls computed the logits differently (docs/embedded-model.md); the response cache is what makes
            # a rerun exact.
            extra["seed"] = int(key[:8] or "0", 16) & 0x7FFFFFFF
        attempt = 0
        while True:
            try:
                async with (self._local_slots() if model.startswith("local/") else _no_lock()):
                    start = time.monotonic()
                    resp = await asyncio.wait_for(
                        litellm.acompletion(model=model, messages=messages, api_base=self.api_base, timeout=timeout_s,
                                            num_retries=0, **extra, **params),
                        timeout=timeout_s + (0 if handles_prefill(model) else 5),
                    )
                return resp, time.monotonic() - start
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # classified below; nothing is swallowed
                kind, cause = classify(exc)
                if kind == "ours":
                    raise cause from None
                if kind == "auth":
                    raise MissingAPIKey(f"{model}: authentication failed ({_one_line(cause)}); check the API key",
                                        model=model) from exc
                if kind == "not_found":
                    raise UnknownModel(f"{model}: the provider does not know this model ({_one_line(cause)})",
                                       model=model) from exc
                if kind == "bad_request":
                    raise LLMCallFailed(f"{model}: request rejected ({_one_line(cause)})", model=model) from exc
                if kind == "other" or attempt >= self.max_retries:
                    if self.api_base and _is_connection_failure(cause):
                        raise Unreachable(f"cannot reach {self.api_base} for {model} ({_one_line(cause)})",
                                          model=model, api_base=self.api_base) from exc
                    why = f"timed out after {timeout_s:g} s" if isinstance(cause, TimeoutError) and not str(cause) \
                        else _one_line(cause)
                    raise LLMCallFailed(f"{model}: failed after {attempt + 1} attempt(s): {why}",
                                        model=model) from exc
                delay = min(self.backoff_max_s, self.backoff_s * 2 ** attempt) * (0.5 + random.random() / 2)
                attempt += 1
                await asyncio.sleep(delay)

    def _server_prefill(self, model: str, messages: list[dict[str, Any]]) -> dict[str, Any]:
        """The request fields that make an OpenAI-compatible server continue a prefilled answer, or {}."""
        if (self.continue_prefill and self.api_base and not handles_prefill(model) and messages
                and messages[-1].get("role") == "assistant"):
            return {"continue_final_message": True, "add_generation_prompt": False}
        return {}

    def _key_for_keyless_server(self, model: str) -> dict[str, str]:
        # OpenAI-compatible servers (vLLM, llama.cpp) often need no key, but the openai client insists on one.
        if self.api_base and model.startswith(("openai/", "hosted_vllm/")) and not os.environ.get("OPENAI_API_KEY"):
            return {"api_key": "no-key-needed"}
        return {}

    @staticmethod
    def _cost(resp: Any, model: str) -> float:
        if model.startswith("local/"):
            return 0.0
        if model.startswith("fake/"):
            from discover.llm.fake import price

            return price(model)
        try:
            return float(litellm_module().completion_cost(completion_response=resp) or 0.0)
        except Exception:  # models missing from the offline price map cost 0, as litellm itself reports
            return 0.0
