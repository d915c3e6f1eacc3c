"""Operators and strategies by name. An operator is registered for the target kinds it can write prompts for
(`kinds`); the loop looks one up by (name, target kind), so "opro" means the code meta-prompt for a code target and
the instruction meta-prompt for a prompt target. A new operator is a file in discover/operators/ that calls
`register_operator` (and is imported in discover/operators/__init__.py); a new strategy calls `register_strategy`."""

from __future__ import annotations

from typing import Any, Protocol

from discover.errors import ConfigError


class Operator(Protocol):
    name: str
    kinds: tuple[str, ...]
    parents: int  # how many parents the loop samples from the archive for it

    async def propose(self, ctx: Any) -> Any:
        """-> discover.operators.base.Proposal"""


class Strategy(Protocol):
    name: str

    def operator_for(self, generation: int, slot: int, n_members: int) -> str:
        """Which operator the proposal at (generation, slot) uses, given how many candidates the archive offers."""


_OPERATORS: dict[tuple[str, str], Operator] = {}
STRATEGIES: dict[str, Strategy] = {}


def register_operator(op: Operator) -> None:
    for kind in op.kinds:
        _OPERATORS[(op.name, kind)] = op


def register_strategy(strategy: Strategy) -> None:
    STRATEGIES[strategy.name] = strategy


def get_operator(name: str, kind: str) -> Operator:
    try:
        return _OPERATORS[(name, kind)]
    except KeyError:
        known = sorted(n for n, k in _OPERATORS if k == kind)
        raise ConfigError(f"no operator {name!r} for {kind} targets; known: {', '.join(known)}") from None


def has_operator(name: str, kind: str) -> bool:
    return (name, kind) in _OPERATORS


def get_strategy(name: str) -> Strategy:
    try:
        return STRATEGIES[name]
    except KeyError:
        raise ConfigError(f"unknown strategy {name!r}; choose one of: {', '.join(sorted(STRATEGIES))}") from None
