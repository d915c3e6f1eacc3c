"""The default archive: the best `population` distinct valid candidates, parents drawn by rank with
p(rank r) ∝ 1 / (r + N) without replacement, as in EoH (Liu et al. 2024)."""

from __future__ import annotations

import random
from typing import Any

from discover.archives.base import Eligible, Member, register_archive


class RankedArchive:
    name = "ranked"

    def __init__(self, population: int, **_: Any) -> None:
        self.population = population
        self._members: dict[str, Member] = {}

    def add(self, member: Member) -> None:
        self._members[member.id] = member

    def _ranked(self, eligible: Eligible | None) -> list[Member]:
        pool = [m for m in self._members.values() if m.score is not None and (eligible is None or eligible(m))]
        return sorted(pool, key=lambda m: (m.sort_key, m.generation, m.slot))

    def members(self, eligible: Eligible | None = None) -> list[Member]:
        seen: set[str] = set()
        out = []
        for m in self._ranked(eligible):
            if m.fingerprint not in seen:
                seen.add(m.fingerprint)
                out.append(m)
        return out

    def population_members(self, eligible: Eligible | None = None) -> list[Member]:
        return [m for m in self.members(eligible) if m.valid][: self.population]

    def best(self, eligible: Eligible | None = None) -> Member | None:
        return next((m for m in self._ranked(eligible) if m.valid), None)

    def sample(self, k: int, rng: random.Random, eligible: Eligible | None = None) -> list[Member]:
        pool = self.population_members(eligible)
        chosen: list[Member] = []
        n = len(pool)
        while pool and len(chosen) < k:
            weights = [1.0 / (r + 1 + n) for r in range(len(pool))]
            chosen.append(pool.pop(rng.choices(range(len(pool)), weights=weights)[0]))
        return chosen

    def state(self) -> dict[str, Any]:
        return {"archive": self.name, "population": [m.id for m in self.population_members()]}

    def load(self, state: dict[str, Any]) -> None:
        pass  # a pure function of its members, which the loop re-adds from the store


register_archive("ranked", RankedArchive)
