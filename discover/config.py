"""One run configuration for every target (code or prompt): loop, budget, LLM and target keys in one model.

Sources, lowest first: the defaults here, a TOML/YAML file (--config), then the flags that were actually given
(a flag left at its default is not given: `problem = "binpack"` in a file is not overridden by an unset
--problem). `merge_config` is the one place that does this; errors are one readable line."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from discover.errors import ConfigError

DEFAULT_MODEL = "local/qwen2.5-coder-0.5b"
DEFAULT_PROBLEM = "tsp"


class PromptOptions(BaseModel):
    """The prompt target's own keys ([prompt] in a config file). Task data comes from a prompt problem folder
    (problem = "folder") or from `task` / `train_file` + `test_file`."""

    model_config = ConfigDict(extra="forbid")

    task: str | None = None              # built-in task name or JSONL path
    train_file: str | None = None
    test_file: str | None = None
    test_fraction: float = Field(0.5, gt=0, lt=1)  # for a single JSONL file
    max_train: int | None = Field(None, ge=1)      # subsample the splits (cost control)
    max_test: int | None = Field(None, ge=1)
    task_model: str | None = None        # default: the folder's, else the proposing model
    scorer: str | None = None            # exact | contains | numeric | choice | label | regex:P | path.py
    labels: list[str] | None = None
    start: str | None = None             # the starting instruction (default: the folder's seed.txt, else "")
    top_k: int = Field(8, ge=1)          # earlier instructions shown in the meta-prompt
    exemplars: int = Field(3, ge=0)
    minibatch: int = Field(10, ge=1)     # screening stage: this many train examples first
    screen_margin: float = Field(0.0, ge=0)
    feedback: bool = True                # the best's failures + an optimizer-written analysis in the meta-prompt
    feedback_failures: int = Field(3, ge=0)
    task_max_tokens: int | None = Field(None, gt=0)
    max_instruction_chars: int = Field(1500, gt=0)
    scorer_timeout_s: float = Field(60, gt=0)
    # rollout budgets (issue 19): paid task-model calls of the search (held-out scoring not counted) and optimizer calls
    max_task_calls: int | None = Field(None, ge=0)
    max_optimizer_calls: int | None = Field(None, ge=0)
    demos: int = Field(3, ge=0)          # few-shot demos per candidate the demo search proposes (train examples)


class RunConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    # target
    problem: str = DEFAULT_PROBLEM       # a problem name or folder (code or kind = "prompt"); ignored with prompt.task
    prompt: PromptOptions = Field(default_factory=PromptOptions)
    # loop
    strategy: str | None = None          # a name in discover.operators.STRATEGIES; None: the target's (eoh / opro)
    archive: str = "ranked"              # a name in discover.archives.ARCHIVES
    schedule: Literal["steady", "generational"] = "steady"
    repair: bool | None = None           # a failing candidate gets one LLM repair attempt (a proposal of its own);
    #                                      None: on, except for the embedded local/ models (measured: the 0.5B
    #                                      model's repairs repeated the failing code, 3 of 3, at 2-4 min a call)
    tune_budget: int | None = Field(None, ge=0)  # evaluations per numeric tuning of a top candidate's constants
    #                                              (0: off; None: the problem's [search] tune_budget, default 0)
    tune_top: int = Field(3, ge=0)       # candidates in the archive's top this many are tuned
    duplicate_retries: int = Field(1, ge=0, le=9)  # re-ask when the answer repeats earlier content (as EoH does)
    seed: int = 0
    # LLM
    model: str = DEFAULT_MODEL
    api_base: str | None = None
    temperature: float | None = Field(None, ge=0, le=2)  # None: the target's default (code 0.8, prompts 1.0)
    max_tokens: int | None = Field(None, gt=0)           # None: the target's default (code 700, prompts 200)
    prefill: Literal["auto", "on", "off"] = "auto"       # completion-style prompting; auto = on for local/ models
    llm_concurrency: int = Field(2, ge=1)                # proposals in flight
    llm_timeout_s: float = Field(180, gt=0)
    llm_retries: int = Field(4, ge=0)    # on rate limits, timeouts, 5xx; never on auth or unknown model
    # budgets: the run stops cleanly at the first one reached
    generations: int = Field(4, ge=1)    # generations x population = the most proposals
    population: int = Field(6, ge=1)
    max_llm_calls: int | None = Field(None, ge=0)
    max_cost_usd: float | None = Field(None, ge=0)
    timeout_s: float | None = Field(None, gt=0)       # wall clock of the search: a hard bound (in-flight work cancelled)
    test_timeout_s: float | None = Field(None, gt=0)  # wall clock of held-out scoring after the search
    test_top_k: int = Field(3, ge=1)     # best candidates re-scored on the held-out test split
    # evaluation
    executor: str = "local"              # local | ray (docs/ray.md)
    ray_address: str | None = None       # ray executor: auto | ray://host:10001 | None (a local Ray instance)
    sandbox: Literal["auto", "bwrap", "docker", "process"] = "auto"
    workers: int | None = Field(None, ge=1)

    @field_validator("strategy")
    @classmethod
    def _known_strategy(cls, v: str | None) -> str | None:
        from discover.operators import STRATEGIES

        if v is not None and v not in STRATEGIES:
            raise ValueError(f"unknown strategy {v!r}; choose one of: {', '.join(sorted(STRATEGIES))}")
        return v

    @field_validator("archive")
    @classmethod
    def _known_archive(cls, v: str) -> str:
        from discover.archives import ARCHIVES

        if v not in ARCHIVES:
            raise ValueError(f"unknown archive {v!r}; choose one of: {', '.join(sorted(ARCHIVES))}")
        return v

    def use_repair(self) -> bool:
        return self.repair if self.repair is not None else not self.model.startswith("local/")

    def use_prefill(self) -> bool:
        return self.prefill == "on" or (self.prefill == "auto" and self.model.startswith("local/"))


def describe_error(err: ValidationError, source: str) -> str:
    parts = []
    for e in err.errors()[:3]:
        where = ".".join(str(p) for p in e["loc"]) or "(top level)"
        msg = e["msg"].removeprefix("Value error, ")
        parts.append(f"{where}: {msg}")
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


def _merge(base: dict[str, Any], given: dict[str, Any], keep_none: bool = False) -> dict[str, Any]:
    out = dict(base)
    for k, v in given.items():
        if v is None and not keep_none:
            continue  # None means "not given"
        if isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = _merge(out[k], v, keep_none)
        else:
            out[k] = v
    return out


def merge_config(*layers: dict[str, Any], source: str = "options", keep_none: bool = False) -> RunConfig:
    """Later layers win, key by key ([prompt] merged key by key too); None values are 'not given', unless
    keep_none (a resumed run's overrides: None there lifts a budget)."""
    data: dict[str, Any] = {}
    for layer in layers:
        data = _merge(data, layer, keep_none)
    try:
        return RunConfig.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(describe_error(exc, source)) from None


def build_config(file: Path | None = None, **flags: Any) -> RunConfig:
    """File values first, then flags that were actually given (None means 'not given')."""
    data = read_config_file(file) if file else {}
    return merge_config(data, flags, source=str(file) if file else "options")
