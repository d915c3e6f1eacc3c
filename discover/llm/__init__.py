"""The LLM gateway. Importing this touches no network and does not import litellm (slow) until a call."""

import os

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

from discover.llm.gateway import Gateway  # noqa: E402
from discover.llm.records import Budget, CallLog, CallRecord, LLMResponse, MemoryCallLog, call_key  # noqa: E402


DEFAULT_MODEL = "local/qwen2.5-coder-0.5b"


def doctor():
    """-> list of DoctorRow(backend, usable, detail) for the embedded models, API keys and a local Ollama."""
    from discover.llm.doctor import doctor as _doctor

    return _doctor()


def ensure_model(model: str = DEFAULT_MODEL, progress: bool | None = None):
    """Assemble and verify the embedded model's file now (normally done on first use). -> its Path."""
    from discover.llm.modelfile import ensure_model_file

    return ensure_model_file(model, progress=progress)


__all__ = ["Gateway", "Budget", "CallLog", "CallRecord", "LLMResponse", "MemoryCallLog", "call_key", "doctor",
           "ensure_model", "DEFAULT_MODEL"]
