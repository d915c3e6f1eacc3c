"""`discover prompt`'s vocabulary over the one loop: a PromptConfig (the prompt job's option names: steps,
candidates_per_step, optimizer_model, ...) becomes a RunConfig for the prompt target, and run_prompt_job returns
the prompt view of the run's summary. Nothing here runs anything the loop does not."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, ValidationError

from discover.config import DEFAULT_MODEL, PromptOptions, RunConfig, describe_error, merge_config
from discover.engine import RunStats, run_sync
from discover.errors import ConfigError, StoreError
from discover.store import CandidateRow, Store

# prompt-job option -> run config key
LOOP_KEYS = {"optimizer_model": "model", "steps": "generations", "candidates_per_step": "population",
             "optimizer_temperature": "temperature", "optimizer_max_tokens": "max_tokens"}
SHARED_KEYS = ("api_base", "llm_concurrency", "llm_timeout_s", "llm_retries", "max_llm_calls", "max_cost_usd",
               "timeout_s", "test_timeout_s", "test_top_k", "seed", "sandbox", "schedule", "strategy", "archive")


class PromptConfig(PromptOptions):
    """The prompt job's options: the prompt target's own keys plus the loop's, under the names OPRO uses."""

    task_model: str | None = DEFAULT_MODEL
    optimizer_model: str = DEFAULT_MODEL
    steps: int = Field(5, ge=1)
    candidates_per_step: int = Field(4, ge=1)
    optimizer_temperature: float = Field(1.0, ge=0, le=2)
    optimizer_max_tokens: int = Field(200, gt=0)
    start: str | None = ""
    api_base: str | None = None
    llm_concurrency: int = Field(2, ge=1)
    llm_timeout_s: float = Field(180, gt=0)
    llm_retries: int = Field(4, ge=0)
    max_llm_calls: int | None = Field(None, ge=0)    # task-model and optimizer calls together
    max_cost_usd: float | None = Field(None, ge=0)
    timeout_s: float | None = Field(None, gt=0)
    test_timeout_s: float | None = Field(None, gt=0)
    test_top_k: int = Field(3, ge=1)
    seed: int = 0
    sandbox: Literal["auto", "bwrap", "docker", "process"] = "auto"  # for a user scorer
    # OPRO's steps: every candidate of a step is a sample of the same meta-prompt (steady: each its own)
    schedule: Literal["steady", "generational"] = "generational"
    strategy: str = "opro"       # opro | reflective (reflection, merge and demo search; docs/prompt-search.md)
    archive: str = "ranked"      # ranked | pareto (per-example Pareto front)

    def to_run_config(self) -> RunConfig:
        return merge_config(to_run_layer(self.model_dump()), source="prompt job options")


def to_run_layer(data: dict[str, Any]) -> dict[str, Any]:
    """Prompt-job keys (given ones only) -> a RunConfig layer."""
    out: dict[str, Any] = {"strategy": "opro"}
    prompt: dict[str, Any] = {}
    for k, v in data.items():
        if k in LOOP_KEYS:
            out[LOOP_KEYS[k]] = v
        elif k in SHARED_KEYS:
            out[k] = v
        else:
            prompt[k] = v
    out["prompt"] = prompt
    return out


def validate_config(data: dict[str, Any]) -> PromptConfig:
    try:
        return PromptConfig.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(describe_error(exc, "prompt job options")) from None


@dataclass
class PromptSummary:
    run_id: str
    status: str
    stop_reason: str
    task: str
    start: CandidateRow | None
    best: CandidateRow | None
    test_scores: dict[str, float | None]  # candidate id -> held-out accuracy
    stats: RunStats
    n_train: int = 0
    n_test: int = 0


def check_prompt_run(store: Store, run_id: str) -> None:
    run = store.get_run(run_id)
    if run.kind != "prompt":
        raise StoreError(f"run {run.id} is a {run.kind} run, not a prompt run; resume it with `discover evolve --resume`")


def run_prompt_job(config: PromptConfig | dict[str, Any], *, runs_dir: Path | str | None = None,
                   resume: str | None = None, overrides: dict[str, Any] | None = None, gateway: Any = None,
                   scorer: Any = None, subscribers: tuple = ()) -> PromptSummary:
    """Start (or resume, by run id or prefix) a prompt-optimization run; returns its summary.
    `gateway`/`scorer` replace the ones built from the config (tests, embedding)."""
    if isinstance(config, dict):
        config = validate_config(config)
    if resume:
        check_prompt_run(Store(runs_dir), resume)
    layer = None
    if overrides is not None:
        layer = to_run_layer(overrides)
        layer.pop("strategy")
    s = run_sync(config.to_run_config(), resume_command="discover prompt", runs_dir=runs_dir, resume=resume,
                 overrides=layer, gateway=gateway, scorer=scorer, subscribers=subscribers)
    return PromptSummary(run_id=s.run_id, status=s.status, stop_reason=s.stop_reason,
                         task=s.problem.removeprefix("prompt:"), start=s.seed, best=s.best,
                         test_scores={cid: v.get("test") for cid, v in s.test_scores.items()}, stats=s.stats,
                         n_train=int(s.header.get("n_train", 0)), n_test=int(s.header.get("n_test", 0)))
