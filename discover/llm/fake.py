"""A scripted LLM for tests, registered as the litellm provider `fake/` so tests run the real gateway path.

    from discover.llm import fake
    fake.script("coder", ["first answer", fake.Fail("rate_limit"), "second answer"])   # consumed in order
    fake.script("coder", lambda messages: "an answer computed from the prompt")        # or a function
    gateway.complete(model="fake/coder", ...)

`fake.stats("coder")` counts calls and the most calls in flight at once. For a CLI in a subprocess, set
DISCOVER_FAKE_RESPONDER=/path/file.py:function and use any `fake/<name>` model."""

from __future__ import annotations

import asyncio
import importlib.util
import os
import threading
import time
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Union

from litellm import CustomLLM
from litellm.types.utils import ModelResponse

Responder = Callable[[list[dict[str, Any]]], str]


@dataclass
class Fail:
    """A scripted failure: rate_limit | timeout | server | auth | not_found | bad_request."""

    kind: str
    message: str = "scripted failure"


@dataclass
class Stats:
    calls: int = 0
    in_flight: int = 0
    max_in_flight: int = 0


class _Script:
    def __init__(self, steps: Union[Iterable[Union[str, Fail]], Responder], delay_s: float, cost_usd: float = 0.0) -> None:
        self.cost_usd = cost_usd
        self.fn = steps if callable(steps) else None
        self.steps = [] if callable(steps) else list(steps)
        self.delay_s = delay_s
        self.stats = Stats()


_scripts: dict[str, _Script] = {}
_lock = threading.Lock()


def script(name: str, steps: Union[Iterable[Union[str, Fail]], Responder], delay_s: float = 0.0,
           cost_usd: float = 0.0) -> None:
    """`cost_usd` is what each successful call of this fake model is billed, for budget tests."""
    with _lock:
        _scripts[name] = _Script(steps, delay_s, cost_usd)


def price(model: str) -> float:
    s = _scripts.get(model.split("/", 1)[-1])
    return s.cost_usd if s else 0.0


def stats(name: str) -> Stats:
    return _scripts[name].stats


def reset() -> None:
    with _lock:
        _scripts.clear()


def _env_responder() -> Responder | None:
    spec = os.environ.get("DISCOVER_FAKE_RESPONDER")
    if not spec:
        return None
    path, _, func = spec.rpartition(":")
    loader = importlib.util.spec_from_file_location("discover_fake_responder", path)
    module = importlib.util.module_from_spec(loader)
    loader.loader.exec_module(module)
    return getattr(module, func)


def _raise(fail: Fail, model: str) -> None:
    import httpx
    import litellm

    req = httpx.Request("POST", "http://fake.invalid")
    kinds = {
        "rate_limit": lambda: litellm.RateLimitError(fail.message, llm_provider="fake", model=model),
        "timeout": lambda: litellm.Timeout(fail.message, model=model, llm_provider="fake"),
        "server": lambda: litellm.InternalServerError(fail.message, llm_provider="fake", model=model),
        "auth": lambda: litellm.AuthenticationError(fail.message, llm_provider="fake", model=model),
        "not_found": lambda: litellm.NotFoundError(fail.message, llm_provider="fake", model=model),
        "bad_request": lambda: litellm.BadRequestError(fail.message, llm_provider="fake", model=model),
        "connection": lambda: litellm.APIConnectionError(fail.message, llm_provider="fake", model=model, request=req),
    }
    raise kinds[fail.kind]()


def _next_step(model: str, messages: list[dict[str, Any]]) -> tuple[_Script, Union[str, Fail]]:
    name = model.split("/", 1)[-1]
    with _lock:
        s = _scripts.get(name)
        if s is None:
            responder = _env_responder()
            if responder is None:
                from discover.errors import UnknownModel

                raise UnknownModel(f"fake model {name!r} has no script (tests: call discover.llm.fake.script)")
            s = _scripts[name] = _Script(responder, 0.0)
        s.stats.calls += 1
        if s.fn is not None:
            return s, s.fn(messages)
        if not s.steps:
            return s, Fail("server", f"fake script {name!r} ran out of responses")
        return s, s.steps.pop(0)


def _prompt_words(messages: list[dict[str, Any]]) -> int:
    return sum(len(str(m.get("content", "")).split()) for m in messages)


async def choose(model: str, messages: list[dict[str, Any]], labels: list[str]) -> tuple[str, int, int]:
    """Gateway.choose for `fake/` models: the scripted answer, constrained to the labels the way a grammar would
    constrain a real model (the label it starts with, else the first label). -> (label, prompt, output tokens)."""
    s, step = _next_step(model, messages)
    await asyncio.sleep(s.delay_s)
    if isinstance(step, Fail):
        from discover.errors import LLMError

        raise LLMError(f"fake {step.kind}: {step.message}")
    text = str(step).strip()
    label = max((x for x in labels if text.lower().startswith(x.lower())), key=len, default=labels[0])
    return label, _prompt_words(messages), len(label.split())


class FakeLLM(CustomLLM):
    def _response(self, model: str, messages: list[dict[str, Any]], text: str, kwargs: dict[str, Any]) -> ModelResponse:
        stop = (kwargs.get("optional_params") or {}).get("stop") or []
        for marker in [stop] if isinstance(stop, str) else stop:  # like a real model: the text ends before a stop string
            text = text.split(marker, 1)[0]
        prompt_tokens = _prompt_words(messages)
        return ModelResponse(
            model=model, choices=[{"message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
            usage={"prompt_tokens": prompt_tokens, "completion_tokens": len(text.split()),
                   "total_tokens": prompt_tokens + len(text.split())},
        )

    def completion(self, model: str, messages: list, *args: Any, **kwargs: Any) -> ModelResponse:
        s, step = _next_step(model, messages)
        if s.delay_s:
            time.sleep(s.delay_s)
        if isinstance(step, Fail):
            _raise(step, model)
        return self._response(model, messages, step, kwargs)

    async def acompletion(self, model: str, messages: list, *args: Any, **kwargs: Any) -> ModelResponse:
        s, step = _next_step(model, messages)
        s.stats.in_flight += 1
        s.stats.max_in_flight = max(s.stats.max_in_flight, s.stats.in_flight)
        try:
            await asyncio.sleep(s.delay_s)
        finally:
            s.stats.in_flight -= 1
        if isinstance(step, Fail):
            _raise(step, model)
        return self._response(model, messages, step, kwargs)

