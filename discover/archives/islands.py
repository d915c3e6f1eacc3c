"""Islands (`archive = "islands"`): K separate ranked populations that evolve apart and exchange their best every M
additions, the diversity scheme of FunSearch (Romera-Paredes et al. 2024) and AlphaEvolve/OpenEvolve, written here
from their descriptions.

- A new candidate joins its parent's island: the island its parent was last sampled from (a migrant lives on two).
  The parent is read from `member.meta["parent_ids"]`; a member without one (a seed, or a loop that does not pass
  parents) goes round-robin. The first valid member starts every empty island, so all islands begin from the seed.
- Parents of one proposal all come from one island (chosen by the proposal's rng among the non-empty ones), drawn
  by rank within it as the ranked archive does (EoH's p(rank r) ∝ 1 / (r + N)).
- Every `migrate_every` valid additions, the best of each island is copied to the next one (a ring).
- Each island keeps its best `population` distinct members; `members()` and `best()` are over all islands.
- state() holds the islands, homes and counters; load() restores them exactly (the members re-added before it may
  have been assigned differently)."""

from __future__ import annotations

import random
from typing import Any

from discover.archives.base import Eligible, Member, register_archive


class IslandsArchive:
    name = "islands"

    def __init__(self, population: int, islands: int = 4, migrate_every: int = 10, **_: Any) -> None:
        self.population = max(1, population)
        self.k = max(1, islands)
        self.migrate_every = max(1, migrate_every)
        self._members: dict[str, Member] = {}
        self.islands: list[list[str]] = [[] for _ in range(self.k)]  # member ids, any order
        self.sampled_from: dict[str, int] = {}   # member id -> the island it was last drawn from as a parent
        self.additions = 0                       # valid members placed on islands
        self.migrations: list[list[tuple[str, int, int]]] = []  # per migration: (member id, from island, to island)
        self._round_robin = 0

    # -- placement -----------------------------------------------------------------------------------------------
    def add(self, member: Member) -> None:
        known = member.id in self._members
        self._members[member.id] = member
        if known or member.score is None or not member.valid:
            return
        empty = [i for i, isl in enumerate(self.islands) if not isl]
        if len(empty) == self.k:  # the first valid member starts every island
            for isl in self.islands:
                isl.append(member.id)
        else:
            self.islands[self._home_for(member)].append(member.id)
        self.additions += 1
        if self.additions % self.migrate_every == 0:
            self.migrate()
        self._trim()

    def _home_for(self, member: Member) -> int:
        for pid in member.meta.get("parent_ids") or []:
            if pid in self.sampled_from:
                return self.sampled_from[pid]
            for i, isl in enumerate(self.islands):
                if pid in isl:
                    return i
        i = self._round_robin % self.k
        self._round_robin += 1
        return i

    def migrate(self) -> None:
        """The best of each island (before any moves) is copied to the next island in the ring."""
        bests = [self._ranked(isl, None)[:1] for isl in self.islands]
        moved = []
        for i, best in enumerate(bests):
            j = (i + 1) % self.k
            if best and best[0].id not in self.islands[j]:
                self.islands[j].append(best[0].id)
                moved.append((best[0].id, i, j))
        self.migrations.append(moved)

    def _trim(self) -> None:
        for i, isl in enumerate(self.islands):
            keep = {m.id for m in self._distinct(self._ranked(isl, None))[: self.population]}
            self.islands[i] = [mid for mid in isl if mid in keep]

    # -- views ---------------------------------------------------------------------------------------------------
    def _ranked(self, ids: Any, eligible: Eligible | None) -> list[Member]:
        pool = [self._members[i] for i in ids if i in self._members]
        pool = [m for m in pool if m.score is not None and (eligible is None or eligible(m))]
        return sorted(pool, key=lambda m: (m.sort_key, m.generation, m.slot))

    @staticmethod
    def _distinct(members: list[Member]) -> list[Member]:
        seen: set[str] = set()
        out = []
        for m in members:
            if m.fingerprint not in seen:
                seen.add(m.fingerprint)
                out.append(m)
        return out

    def members(self, eligible: Eligible | None = None) -> list[Member]:
        return self._distinct(self._ranked(self._members, eligible))

    def island_members(self, i: int, eligible: Eligible | None = None) -> list[Member]:
        return [m for m in self._distinct(self._ranked(self.islands[i], eligible)) if m.valid]

    def population_members(self, eligible: Eligible | None = None) -> list[Member]:
        """The largest island's population: what one proposal can draw its parents from at most."""
        return max((self.island_members(i, eligible) for i in range(self.k)), key=len, default=[])

    def best(self, eligible: Eligible | None = None) -> Member | None:
        return next((m for m in self._ranked(self._members, eligible) if m.valid), None)

    def sample(self, k: int, rng: random.Random, eligible: Eligible | None = None) -> list[Member]:
        choices = [i for i in range(self.k) if self.island_members(i, eligible)]
        if not choices:
            return []
        island = rng.choice(choices)
        pool = self.island_members(island, eligible)
        chosen: list[Member] = []
        n = len(pool)
        while pool and len(chosen) < k:
            weights = [1.0 / (r + 1 + n) for r in range(len(pool))]
            chosen.append(pool.pop(rng.choices(range(len(pool)), weights=weights)[0]))
        for m in chosen:
            self.sampled_from[m.id] = island
        return chosen

    # -- persistence ---------------------------------------------------------------------------------------------
    def state(self) -> dict[str, Any]:
        return {"archive": self.name, "islands": [list(isl) for isl in self.islands], "additions": self.additions,
                "sampled_from": dict(self.sampled_from), "round_robin": self._round_robin,
                "migrations": len(self.migrations), "migrate_every": self.migrate_every}

    def load(self, state: dict[str, Any]) -> None:
        saved = state.get("islands")
        if not isinstance(saved, list) or len(saved) != self.k:
            return  # another layout (or another archive): keep the placement the re-added members got
        self.islands = [[str(mid) for mid in isl if str(mid) in self._members] for isl in saved]
        self.additions = int(state.get("additions", self.additions))
        self.sampled_from = {str(k): int(v) for k, v in (state.get("sampled_from") or {}).items()}
        self._round_robin = int(state.get("round_robin", self._round_robin))
        self.migrations = [[] for _ in range(int(state.get("migrations", 0)))]


register_archive("islands", IslandsArchive)
