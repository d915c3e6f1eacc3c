"""The Archive seam: the population the loop samples parents and inspirations from.

The loop calls `add(member)` when a candidate's outcome is recorded (the hook), `members()`/`best()` to show the
archive to operators and `sample(k, rng)` for parents. `state()` is persisted in the store after each change and
given back to `load()` when a run resumes (after the members themselves were re-added from the store, so an archive
whose state is a pure function of its members may ignore it). Islands, MAP-Elites or a per-example Pareto front are
a file each in discover/archives/ that calls `register_archive` (issues 17 and 19)."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any, Callable, Protocol


@dataclass
class Member:
    id: str
    fingerprint: str
    score: float | None      # None: no usable score (failed)
    valid: bool              # may be a parent / the best (a screened-out prompt has a score but is not valid)
    generation: int
    slot: int
    sort_key: float          # ascending: smaller is better (the target's direction applied)
    meta: dict[str, Any] = field(default_factory=dict)
    instances: dict[str, float] = field(default_factory=dict)  # per-instance train scores (a Pareto front reads them)


Eligible = Callable[[Member], bool]


class Archive(Protocol):
    name: str

    def add(self, member: Member) -> None: ...

    def members(self, eligible: Eligible | None = None) -> list[Member]:
        """Scored members, best first, one per fingerprint."""

    def best(self, eligible: Eligible | None = None) -> Member | None: ...

    def sample(self, k: int, rng: random.Random, eligible: Eligible | None = None) -> list[Member]: ...

    def state(self) -> dict[str, Any]: ...

    def load(self, state: dict[str, Any]) -> None: ...


ARCHIVES: dict[str, Callable[..., Archive]] = {}


def register_archive(name: str, factory: Callable[..., Archive]) -> None:
    """factory(population=int, **options) -> Archive"""
    ARCHIVES[name] = factory
