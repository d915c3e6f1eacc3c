"""Prompt optimization: the prompt target (discover/targets/prompt.py) run by the one loop. Task data and scorers
live here; `run_prompt_job` is the `discover prompt` entry point (discover.optimize_prompt is the general one)."""

from discover.prompting.api import PromptConfig, PromptSummary, run_prompt_job
from discover.prompting.datasets import Example, PromptTask, TaskError, builtin_task_names, load_task
from discover.engine.stats import RunStats as PromptStats

__all__ = ["run_prompt_job", "PromptConfig", "PromptStats", "PromptSummary", "PromptTask", "Example", "TaskError",
           "load_task", "builtin_task_names"]
