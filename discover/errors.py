"""Typed errors. Each carries context; the CLI prints `error: <message>` and exits with `exit_code`."""

from __future__ import annotations


class DiscoverError(Exception):
    """Base class. `message` is one readable line; `context` holds the facts behind it."""

    exit_code = 1

    def __init__(self, message: str, **context: object) -> None:
        super().__init__(message)
        self.message = message
        self.context = context

    def __str__(self) -> str:
        return self.message


class ConfigError(DiscoverError):
    exit_code = 2


class ProblemError(DiscoverError):
    """A problem folder is missing, malformed, or its evaluator misbehaves."""

    exit_code = 3


class StoreError(DiscoverError):
    """The run database is corrupt, foreign, too new, or a run/candidate id is unknown or ambiguous."""

    exit_code = 4


class LLMError(DiscoverError):
    exit_code = 5


class MissingAPIKey(LLMError):
    pass


class UnknownModel(LLMError):
    pass


class Unreachable(LLMError):
    pass


class ModelFileError(LLMError):
    """The embedded model's file is missing, half-written or fails its checksum."""


class LLMCallFailed(LLMError):
    """A call failed after its retries (timeout, rate limit, 5xx)."""


class BudgetExhausted(LLMError):
    """A run budget (LLM calls, cost) is spent. The loop treats this as a clean stop, not a failure."""

    exit_code = 0


class SandboxError(DiscoverError):
    """A sandbox backend cannot be used here (not installed, no daemon, no GPU support)."""

    exit_code = 6


class RunLocked(StoreError):
    """Another live process owns the run (Store.claim_run); the message names it and how to take over."""
