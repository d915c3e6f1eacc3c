"""The LLM gateway. Importing this touches no network and does not import litellm (slow) until a call."""

import os

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

from discover.llm.gateway import Gateway  # noqa: E402
from discover.llm.records import Budget, CallLog, CallRecord, LLMResponse, MemoryCallLog, call_key  # noqa: E402


def doctor():
    from discover.llm.doctor import doctor as _doctor

    return _doctor()


__all__ = ["Gateway", "Budget", "CallLog", "CallRecord", "LLMResponse", "MemoryCallLog", "call_key", "doctor"]
