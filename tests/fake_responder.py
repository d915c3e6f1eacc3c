"""Responder for CLI tests in a subprocess (DISCOVER_FAKE_RESPONDER=tests/fake_responder.py:respond). FAKE_DELAY_S
slows each answer; FAKE_OFFSET starts the variants elsewhere (a second process answers with new code)."""

import os
import time

_n = {"i": int(os.environ.get("FAKE_OFFSET", "0"))}


def respond(messages):
    time.sleep(float(os.environ.get("FAKE_DELAY_S", "0")))
    i = _n["i"]
    _n["i"] += 1
    return f"Thought: variant {i}\n```python\ndef solve(x):\n    return 3 * x + 1 + {i} * 0.001\n```"
