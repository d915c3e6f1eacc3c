"""MAP-Elites (`archive = "map-elites"`): a grid over feature dimensions where each cell keeps its best candidate
(Mouret & Clune 2015, "Illuminating search spaces by mapping elites"; the program databases of AlphaEvolve and
OpenEvolve use the same idea). Parents are drawn uniformly over occupied cells, so a small, odd or slow program
that is best of its kind is explored as often as the overall best.

Where features come from, first found wins:
- `member.meta["features"]` ({name: number}), set by whoever knows them;
- a describer attached with `describe_with(fn)`, fn(member) -> {name: number}; the program target's edit operator
  attaches `store_describer(store, problem_features)`, which reads the candidate's code and evaluation rows;
- neither: the member waits unplaced (and is placed as soon as a describer is attached).
Default dimensions: code size (characters, log2 bins) and the evaluation's wall time (runtime_s, half-decade
bins) when the rows report one, else the number of numpy calls. A problem may name its own dimensions, metrics its
evaluator returns per instance (averaged), in problem.toml `[archive] features = ["metric", ...]`."""

from __future__ import annotations

import ast
import math
import random
from typing import Any, Callable

from discover.archives.base import Eligible, Member, register_archive

Describer = Callable[[Member], dict[str, float]]
DEFAULT_FEATURES = ("code_size", "runtime_s")


def bin_of(name: str, value: float) -> int:
    """The cell coordinate of one feature value: log-scaled, because sizes and times vary over decades."""
    if name == "code_size":
        return int(math.log2(max(1.0, value)))
    if name == "runtime_s":
        return int(math.floor(2 * math.log10(max(value, 1e-3))))
    if name == "numpy_calls":
        return int(min(value, 16))
    return int(math.copysign(math.floor(math.log2(abs(value) + 1)), value))  # any metric: signed log2 bins


def numpy_calls(code: str) -> int:
    """Calls of np.* / numpy.* in the code (0 when it does not parse)."""
    try:
        tree = ast.parse(code)
    except SyntaxError:
        return 0
    return sum(1 for n in ast.walk(tree) if isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute)
               and isinstance(n.func.value, ast.Name) and n.func.value.id in ("np", "numpy"))


def code_features(code: str, durations: list[float], metrics: dict[str, float] | None = None,
                  names: tuple[str, ...] = DEFAULT_FEATURES) -> dict[str, float]:
    """The features of one candidate from its text, its evaluations' wall times and its mean per-instance metrics."""
    out: dict[str, float] = {"code_size": float(len(code)), "numpy_calls": float(numpy_calls(code))}
    if durations:
        out["runtime_s"] = float(sum(durations))
    out.update(metrics or {})
    if names == DEFAULT_FEATURES and "runtime_s" not in out:
        names = ("code_size", "numpy_calls")
    return {n: out[n] for n in names if n in out}


def store_describer(store: Any, names: tuple[str, ...] = DEFAULT_FEATURES,
                    text_of: Callable[[str], str] = lambda code: code) -> Describer:
    """Features read from the store: the candidate's code (through `text_of`, e.g. a program's files joined) and
    its train evaluation rows (wall time, mean per-instance metrics)."""

    def describe(member: Member) -> dict[str, float]:
        row = store.get_candidate(member.id)
        evals = store.evaluations(member.id, "train")
        sums: dict[str, list[float]] = {}
        for e in evals:
            for metrics in (e.instances or {}).values():
                for k, v in (metrics or {}).items():
                    if isinstance(v, (int, float)) and not isinstance(v, bool) and k != "score":
                        sums.setdefault(k, []).append(float(v))
        means = {k: sum(v) / len(v) for k, v in sums.items()}
        durations = [e.duration_s for e in evals if e.duration_s]
        return code_features(text_of(row.code), durations, means, names)

    return describe


class MapElitesArchive:
    name = "map-elites"

    def __init__(self, population: int, features: tuple[str, ...] | None = None, describe: Describer | None = None,
                 **_: Any) -> None:
        self.population = population  # not a cap: the grid has as many elites as it has occupied cells
        self.dimensions: tuple[str, ...] | None = tuple(features) if features else None
        self.describer = describe
        self._members: dict[str, Member] = {}
        self.features: dict[str, dict[str, float]] = {}   # member id -> its feature values
        self.cells: dict[tuple[int, ...], str] = {}         # cell -> elite id
        self._pending: list[str] = []

    def describe_with(self, describer: Describer) -> None:
        """Attach a describer; members added before it are placed now."""
        self.describer = describer
        self._place_pending()

    # -- placement ---------------------------------------------------------------------------------------------
    def add(self, member: Member) -> None:
        self._members[member.id] = member
        if member.score is None or not member.valid:
            return
        self._pending.append(member.id)
        self._place_pending()

    def _features_of(self, member: Member) -> dict[str, float] | None:
        if member.id in self.features:
            return self.features[member.id]
        given = member.meta.get("features")
        if isinstance(given, dict) and given:
            return {str(k): float(v) for k, v in given.items()}
        return self.describer(member) if self.describer is not None else None

    def cell_of(self, feats: dict[str, float]) -> tuple[int, ...]:
        if self.dimensions is None:
            self.dimensions = tuple(feats)  # the first member's features fix the grid's dimensions
        return tuple(bin_of(d, feats[d]) if d in feats else 0 for d in self.dimensions)

    def _place_pending(self) -> None:
        waiting, self._pending = self._pending, []
        for mid in waiting:
            member = self._members[mid]
            feats = self._features_of(member)
            if feats is None:
                self._pending.append(mid)
                continue
            self.features[mid] = feats
            self._place(member, self.cell_of(feats))

    def _place(self, member: Member, cell: tuple[int, ...]) -> None:
        incumbent = self._members.get(self.cells.get(cell, ""))
        if incumbent is None or member.sort_key < incumbent.sort_key:  # a tie keeps the incumbent
            self.cells[cell] = member.id

    # -- views -------------------------------------------------------------------------------------------------
    def _ranked(self, ids: Any, eligible: Eligible | None) -> list[Member]:
        pool = [self._members[i] for i in ids if i in self._members]
        pool = [m for m in pool if m.score is not None and (eligible is None or eligible(m))]
        return sorted(pool, key=lambda m: (m.sort_key, m.generation, m.slot))

    def members(self, eligible: Eligible | None = None) -> list[Member]:
        seen: set[str] = set()
        out = []
        for m in self._ranked(self._members, eligible):
            if m.fingerprint not in seen:
                seen.add(m.fingerprint)
                out.append(m)
        return out

    def elites(self, eligible: Eligible | None = None) -> list[Member]:
        """One per occupied cell, best first; before any member is placed, the best member alone."""
        self._place_pending()
        elites = [m for m in self._ranked(set(self.cells.values()), eligible) if m.valid]
        return elites or [m for m in self.members(eligible) if m.valid][:1]

    def population_members(self, eligible: Eligible | None = None) -> list[Member]:
        return self.elites(eligible)

    def best(self, eligible: Eligible | None = None) -> Member | None:
        return next((m for m in self._ranked(self._members, eligible) if m.valid), None)

    def sample(self, k: int, rng: random.Random, eligible: Eligible | None = None) -> list[Member]:
        """k elites of distinct cells, uniformly over the occupied cells."""
        pool = self.elites(eligible)
        return rng.sample(pool, min(k, len(pool)))

    # -- persistence -------------------------------------------------------------------------------------------
    def state(self) -> dict[str, Any]:
        return {"archive": self.name, "dimensions": list(self.dimensions or []),
                "cells": {",".join(map(str, c)): mid for c, mid in sorted(self.cells.items())},
                "features": {mid: f for mid, f in self.features.items()}}

    def load(self, state: dict[str, Any]) -> None:
        """Features saved earlier place members that no describer can describe yet (a resumed run)."""
        if state.get("dimensions"):
            self.dimensions = tuple(state["dimensions"])
        for mid, feats in (state.get("features") or {}).items():
            if mid in self._members:
                self.features[mid] = {str(k): float(v) for k, v in feats.items()}
        self.cells = {}
        for mid in self.features:
            member = self._members[mid]
            if member.score is not None and member.valid:
                self._place(member, self.cell_of(self.features[mid]))
        self._pending = [mid for mid in self._pending if mid not in self.features]


register_archive("map-elites", MapElitesArchive)
