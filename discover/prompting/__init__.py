"""Prompt optimization: the prompt target (discover/targets/prompt.py) run by the one loop. Task data and scorers
live here; `run_prompt_job` is the `discover prompt` entry point (discover.optimize_prompt is the general one).
The job API loads lazily: operators import this package's data modules while the loop itself is being imported."""

from discover.prompting.datasets import Example, PromptTask, TaskError, builtin_task_names, load_task

_JOB = {"run_prompt_job", "PromptConfig", "PromptSummary"}
__all__ = [*sorted(_JOB), "PromptStats", "PromptTask", "Example", "TaskError", "load_task", "builtin_task_names"]


def __getattr__(name: str):
    if name in _JOB:
        from discover.prompting import api

        return getattr(api, name)
    if name == "PromptStats":
        from discover.engine.stats import RunStats

        return RunStats
    raise AttributeError(f"module 'discover.prompting' has no attribute {name!r}")
