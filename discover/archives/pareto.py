"""A per-example Pareto front (`archive = "pareto"`), the selection GEPA uses (Agrawal et al. 2025, "GEPA: Reflective
Prompt Evolution Can Outperform Reinforcement Learning"): a candidate stays in the front while it is best, or tied
best, on at least one training example, so an instruction that solves a kind of input nobody else solves survives
even when its average is low. Parents are drawn from the front with weight = the number of examples they win, so
specialists are explored in proportion to how much they cover.

Only fully evaluated valid candidates compete (a screened-out one saw the minibatch alone). An example nobody gets
any credit on carries no information and is not counted; a winner that another winner matches on every example
and beats on one (strictly dominated) is dropped, as GEPA does. The front is recomputed from the members (cheap at these
sizes), so a resumed run, whose members are re-added from the store, gets the same front; state() records it (with
the wins) for review, and load() keeps it to report a front that changed between sessions."""

from __future__ import annotations

import random
from typing import Any

from discover.archives.base import Eligible, Member, register_archive


class ParetoArchive:
    name = "pareto"

    def __init__(self, population: int, **_: Any) -> None:
        self.population = population  # not a cap: the front is as large as the examples make it
        self._members: dict[str, Member] = {}
        self.loaded_front: dict[str, int] = {}

    def add(self, member: Member) -> None:
        self._members[member.id] = member

    # -- views ------------------------------------------------------------------------------------------------
    def _ranked(self, eligible: Eligible | None) -> list[Member]:
        pool = [m for m in self._members.values() if m.score is not None and (eligible is None or eligible(m))]
        return sorted(pool, key=lambda m: (m.sort_key, m.generation, m.slot))

    def _distinct(self, members: list[Member]) -> list[Member]:
        seen: set[str] = set()
        out = []
        for m in members:
            if m.fingerprint not in seen:
                seen.add(m.fingerprint)
                out.append(m)
        return out

    def members(self, eligible: Eligible | None = None) -> list[Member]:
        return self._distinct(self._ranked(eligible))

    def wins(self, eligible: Eligible | None = None) -> dict[str, int]:
        """Front member id -> how many examples it is best (or tied best) on."""
        pool = [m for m in self._distinct(self._ranked(eligible)) if m.valid and m.instances]
        maximize = _maximizes(pool)
        pick = max if maximize else min
        best: dict[str, float] = {}
        for m in pool:
            for k, v in m.instances.items():
                best[k] = pick(best[k], v) if k in best else v
        informative = {k for k, v in best.items() if not (maximize and v <= 0)}  # nobody gets credit: no signal
        counts: dict[str, int] = {}
        winners = []
        for m in pool:
            n = sum(1 for k, v in m.instances.items() if k in informative and v == best[k])
            if n:
                counts[m.id] = n
                winners.append(m)
        # a winner that another winner matches everywhere and beats somewhere adds nothing (GEPA prunes these too)
        for m in winners:
            if any(o is not m and _dominates(o, m, maximize) for o in winners):
                del counts[m.id]
        return counts

    def front(self, eligible: Eligible | None = None) -> list[Member]:
        w = self.wins(eligible)
        return [m for m in self._ranked(eligible) if m.id in w]

    def population_members(self, eligible: Eligible | None = None) -> list[Member]:
        front = self.front(eligible)
        if front:
            return front
        return [m for m in self.members(eligible) if m.valid][:1]  # nobody wins anything yet: the best alone

    def best(self, eligible: Eligible | None = None) -> Member | None:
        return next((m for m in self._ranked(eligible) if m.valid), None)

    def sample(self, k: int, rng: random.Random, eligible: Eligible | None = None) -> list[Member]:
        """k distinct front members, each drawn with probability proportional to its wins."""
        w = self.wins(eligible)
        pool = self.population_members(eligible)
        chosen: list[Member] = []
        while pool and len(chosen) < k:
            i = rng.choices(range(len(pool)), weights=[w.get(m.id, 1) for m in pool])[0]
            chosen.append(pool.pop(i))
        return chosen

    # -- persistence -------------------------------------------------------------------------------------------
    def state(self) -> dict[str, Any]:
        return {"archive": self.name, "front": self.wins()}

    def load(self, state: dict[str, Any]) -> None:
        self.loaded_front = {str(k): int(v) for k, v in (state.get("front") or {}).items()}


def _dominates(a: Member, b: Member, maximize: bool) -> bool:
    """a is at least as good as b on every example b was scored on, and better on one."""
    sign = 1 if maximize else -1
    diffs = [sign * (a.instances.get(k, float("-inf") if maximize else float("inf")) - v) for k, v in b.instances.items()]
    return all(d >= 0 for d in diffs) and any(d > 0 for d in diffs)


def _maximizes(pool: list[Member]) -> bool:
    """The target's direction, read off the members (sort_key is -score when higher is better)."""
    for m in pool:
        if m.score:
            return m.sort_key == -m.score
    return True


register_archive("pareto", ParetoArchive)
