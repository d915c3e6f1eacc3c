"""litellm, imported lazily and offline, with our in-process providers (local model, test fake) registered."""

from __future__ import annotations

import os
import threading

_lock = threading.Lock()
_ready = False


def litellm_module():
    """Import litellm without network (its price map is read from the package) and register `local/`, `fake/`."""
    global _ready
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    import litellm

    with _lock:
        if not _ready:
            litellm.suppress_debug_info = True
            litellm.telemetry = False
            from discover.llm.fake import FakeLLM

            providers = {p["provider"] for p in litellm.custom_provider_map}
            if "fake" not in providers:
                litellm.custom_provider_map.append({"provider": "fake", "custom_handler": FakeLLM()})
            try:
                from discover.llm.local import register_local_provider
            except ImportError:  # the local backend is optional at import time; calling it says what is missing
                pass
            else:
                register_local_provider()
            litellm._custom_providers = [p["provider"] for p in litellm.custom_provider_map]
            _ready = True
    return litellm


IN_PROCESS_PREFIXES = ("local/", "fake/")


def in_process(model: str) -> bool:
    """The model runs in this process (the embedded model, or the fake one in tests)."""
    return model.startswith(IN_PROCESS_PREFIXES)


def handles_prefill(model: str) -> bool:
    """In-process providers continue a trailing assistant message themselves."""
    return in_process(model)
