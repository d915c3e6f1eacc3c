"""Targets by kind. `open_target(config)` finds what the config names (a problem folder, whose problem.toml says
its kind, or a prompt task given by options) and opens the registered target for that kind. A new kind (e.g.
"program": EVOLVE blocks + SEARCH/REPLACE edits) is a module here that calls `register_target(kind, opener)` and
registers its review info with discover.targets.info.register_target_info."""

from __future__ import annotations

import contextlib
import tomllib
from pathlib import Path
from typing import Any, Callable, ContextManager, Iterator

from discover.errors import ProblemError
from discover.problem import resolve_problem_dir

# opener(config, root, **injected) -> context manager yielding a Target; injected: evaluator=, scorer=
Opener = Callable[..., ContextManager[Any]]
TARGETS: dict[str, Opener] = {}


def register_target(kind: str, opener: Opener) -> None:
    TARGETS[kind] = opener


def folder_kind(root: Path) -> str:
    path = root / "problem.toml"
    try:
        return str(tomllib.loads(path.read_text()).get("kind", "code"))
    except tomllib.TOMLDecodeError as exc:
        raise ProblemError(f"{path}: not valid TOML: {exc}", path=str(path)) from exc


def locate(config: Any) -> tuple[str, Path | None]:
    """-> (kind, problem folder or None for a prompt task given by options)."""
    if config.prompt.task or config.prompt.train_file or config.prompt.test_file:
        return "prompt", None
    root = resolve_problem_dir(config.problem)
    return folder_kind(root), root


@contextlib.contextmanager
def open_target(config: Any, **injected: Any) -> Iterator[Any]:
    kind, root = locate(config)
    opener = TARGETS.get(kind)
    if opener is None:
        raise ProblemError(f"{root}: kind {kind!r} has no target here (known: {', '.join(sorted(TARGETS))})")
    with opener(config, root, **injected) as target:
        yield target


@contextlib.contextmanager
def _open_code(config: Any, root: Path, evaluator: Any = None, **_: Any) -> Iterator[Any]:
    from discover.problem import load_problem
    from discover.targets.code import CodeTarget, open_code_evaluator

    problem = load_problem(str(root))
    if evaluator is not None:
        yield CodeTarget(problem, evaluator, config)
        return
    with open_code_evaluator(problem, config) as ev:
        yield CodeTarget(problem, ev, config)


@contextlib.contextmanager
def _open_prompt(config: Any, root: Path | None, scorer: Any = None, **_: Any) -> Iterator[Any]:
    from discover.targets.prompt import PromptTarget, open_prompt_target, task_from_options

    if scorer is None:
        with open_prompt_target(config, root) as target:
            yield target
        return
    task = task_from_options(config)  # an injected scorer (tests, embedding) comes with task options
    yield PromptTarget(task, scorer, config, task_model=config.prompt.task_model or config.model,
                       start=config.prompt.start or "", source=task.source)


register_target("code", _open_code)
register_target("prompt", _open_prompt)
from discover.targets import program as _program  # noqa: E402,F401  (registers "program": discover/targets/program.py)
