"""Executors by name: where the candidate side of evaluations runs. Add one with `register_executor`."""

from __future__ import annotations

from typing import Any, Callable

from discover.errors import ConfigError
from discover.executors.base import CandidateRun, Executor, RawRun


def _local(**kw: Any) -> Executor:
    from discover.executors.local import LocalExecutor

    return LocalExecutor.open(**kw)


EXECUTORS: dict[str, Callable[..., Executor]] = {"local": _local}
EXECUTORS["ray"] = lambda **kw: __import__("discover.executors.ray", fromlist=["RayExecutor"]).RayExecutor.open(**kw)


def register_executor(name: str, factory: Callable[..., Executor]) -> None:
    EXECUTORS[name] = factory


def open_executor(name: str = "local", **options: Any) -> Executor:
    """`options`: sandbox, workers, gpus, and executor-specific ones (e.g. ray_address)."""
    try:
        factory = EXECUTORS[name]
    except KeyError:
        raise ConfigError(f"unknown executor {name!r}; choose one of: {', '.join(EXECUTORS)}") from None
    return factory(**options)


__all__ = ["CandidateRun", "Executor", "RawRun", "EXECUTORS", "register_executor", "open_executor"]
