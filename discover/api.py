"""The Python API: one loop behind two entry points. Each is async (`evolve_async`, `optimize_prompt_async`) with a
sync twin that also works inside a running event loop (Jupyter: the run goes to a worker thread with its own loop).

    import discover
    s = discover.evolve(problem="tsp", model="openai/gpt-4o-mini", generations=3, population=4)
    s = discover.optimize_prompt(task="antonyms", model="openai/gpt-4o-mini", generations=3)
    s.best.code, s.test_scores[s.best.id]

Keyword settings are config keys (discover.config.RunConfig; the prompt target's keys, e.g. task_model, scorer,
minibatch, may be given flat); `config=` takes a RunConfig or a dict, settings win over it key by key.
`gateway=`, `evaluator=` and `custom_scorer=` (a Scorer object; `scorer` is the config key naming one) replace what
the config would build."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

from discover.config import PromptOptions, RunConfig, merge_config
from discover.engine import RunSummary, run_async, run_sync
from discover.events import RunEvent

PROMPT_KEYS = set(PromptOptions.model_fields)


def _layer(settings: dict[str, Any]) -> dict[str, Any]:
    """Flat settings -> a config layer: prompt-target keys go under "prompt"."""
    out = {k: v for k, v in settings.items() if k not in PROMPT_KEYS}
    prompt = {k: v for k, v in settings.items() if k in PROMPT_KEYS}
    if prompt:
        out["prompt"] = {**out.get("prompt", {}), **prompt}
    return out


def make_config(config: RunConfig | dict[str, Any] | None = None, **settings: Any) -> RunConfig:
    base = config.model_dump(exclude_unset=True) if isinstance(config, RunConfig) else _layer(dict(config or {}))
    return merge_config(base, _layer(settings))


def _kwargs(runs_dir, resume, gateway, evaluator, scorer, on_event) -> dict[str, Any]:
    return dict(runs_dir=runs_dir, resume=resume, gateway=gateway, evaluator=evaluator, scorer=scorer,
                subscribers=(on_event,) if on_event else ())


async def evolve_async(config: RunConfig | dict[str, Any] | None = None, *, runs_dir: Path | str | None = None,
                       resume: str | None = None, gateway: Any = None, evaluator: Any = None,
                       custom_scorer: Any = None, on_event: Callable[[RunEvent], None] | None = None, **settings: Any) -> RunSummary:
    """Run (or resume: settings are then the overrides, e.g. a larger budget) and return the summary."""
    cfg = make_config(config, **({} if resume else settings))
    return await run_async(cfg, overrides=_layer(settings) if resume else None,
                           **_kwargs(runs_dir, resume, gateway, evaluator, custom_scorer, on_event))


def evolve(config: RunConfig | dict[str, Any] | None = None, *, runs_dir: Path | str | None = None,
           resume: str | None = None, gateway: Any = None, evaluator: Any = None, custom_scorer: Any = None,
           on_event: Callable[[RunEvent], None] | None = None, **settings: Any) -> RunSummary:
    cfg = make_config(config, **({} if resume else settings))
    return run_sync(cfg, overrides=_layer(settings) if resume else None,
                    **_kwargs(runs_dir, resume, gateway, evaluator, custom_scorer, on_event))


async def optimize_prompt_async(task: str | None = None, **kwargs: Any) -> RunSummary:
    """A prompt run: `task` is a built-in task name or a JSONL file (or pass problem=<prompt folder>)."""
    return await evolve_async(**_prompt_kwargs(task, kwargs))


def optimize_prompt(task: str | None = None, **kwargs: Any) -> RunSummary:
    return evolve(**_prompt_kwargs(task, kwargs))


def _prompt_kwargs(task: str | None, kwargs: dict[str, Any]) -> dict[str, Any]:
    if task is not None:
        kwargs["task"] = task
    kwargs.setdefault("strategy", "opro")
    return kwargs
