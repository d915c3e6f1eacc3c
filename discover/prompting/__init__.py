"""Prompt optimization jobs: OPRO-style search over instruction texts with directional feedback, stored and
budgeted like `discover evolve` runs. Entry point: run_prompt_job(config, runs_dir=..., resume=..., gateway=...)."""

from discover.prompting.api import run_prompt_job
from discover.prompting.datasets import Example, PromptTask, TaskError, builtin_task_names, load_task
from discover.prompting.engine import PromptConfig, PromptStats, PromptSummary

__all__ = ["run_prompt_job", "PromptConfig", "PromptStats", "PromptSummary", "PromptTask", "Example", "TaskError",
           "load_task", "builtin_task_names"]
