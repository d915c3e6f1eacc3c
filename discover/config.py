"""Run configuration: flags for the common things, a TOML or YAML file (--config) for the rest."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from discover.errors import ConfigError

DEFAULT_MODEL = "local/qwen2.5-coder-0.5b"


class RunConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    problem: str = "tsp"
    strategy: Literal["eoh", "opro"] = "eoh"
    model: str = DEFAULT_MODEL
    api_base: str | None = None
    temperature: float = Field(0.8, ge=0, le=2)
    max_tokens: int = Field(700, gt=0)
    prefill: Literal["auto", "on", "off"] = "auto"  # completion-style prompting; auto = on for local/ models
    llm_concurrency: int = Field(2, ge=1)
    llm_timeout_s: float = Field(180, gt=0)
    llm_retries: int = Field(4, ge=0)  # on rate limits, timeouts, 5xx; never on auth or unknown model
    # budgets: the run stops cleanly at the first one reached
    generations: int = Field(4, ge=1)
    population: int = Field(6, ge=2)
    max_llm_calls: int | None = Field(None, ge=0)
    max_cost_usd: float | None = Field(None, ge=0)
    timeout_s: float | None = Field(None, gt=0)  # wall clock for this invocation
    seed: int = 0
    sandbox: Literal["auto", "bwrap", "docker", "process"] = "auto"
    workers: int | None = Field(None, ge=1)
    test_top_k: int = Field(3, ge=1)  # best candidates re-scored on the held-out test split
    duplicate_retries: int = Field(1, ge=0, le=9)  # re-ask when the answer repeats earlier code (as EoH does)

    def use_prefill(self) -> bool:
        return self.prefill == "on" or (self.prefill == "auto" and self.model.startswith("local/"))


def _describe(err: ValidationError, source: str) -> str:
    parts = []
    for e in err.errors()[:3]:
        where = ".".join(str(p) for p in e["loc"]) or "(top level)"
        parts.append(f"{where}: {e['msg']}")
    more = f" (+{err.error_count() - 3} more)" if err.error_count() > 3 else ""
    return f"{source}: " + "; ".join(parts) + more


def read_config_file(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text()
    except OSError as exc:
        raise ConfigError(f"cannot read config {path}: {exc.strerror}", path=str(path)) from exc
    try:
        if path.suffix in (".yaml", ".yml"):
            import yaml

            data = yaml.safe_load(text) or {}
        else:
            data = tomllib.loads(text)
    except Exception as exc:  # yaml and toml raise different types; both are "not parseable"
        raise ConfigError(f"{path}: cannot parse: {str(exc).splitlines()[0]}", path=str(path)) from exc
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a table of settings at the top level", path=str(path))
    return data


def build_config(file: Path | None = None, **overrides: Any) -> RunConfig:
    """File values first, then flags that were actually given (None means 'not given')."""
    data: dict[str, Any] = read_config_file(file) if file else {}
    data.update({k: v for k, v in overrides.items() if v is not None})
    try:
        return RunConfig.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(_describe(exc, str(file) if file else "options")) from exc
