"""The `reflective` strategy for prompt targets: GEPA-style reflective mutation and merge (Agrawal et al. 2025)
together with DSPy-style demo search (MIPROv2), in a fixed rotation over the proposals of a run: half the slots
are demo moves (no LLM call), a quarter reflections, a quarter merges of two front members (a reflection while the
archive offers fewer than two). Meant with `archive = "pareto"`, which supplies the parents."""

from __future__ import annotations

from discover.operators.registry import register_strategy

ROTATION = ("reflect", "demos", "merge", "demos")


class ReflectiveStrategy:
    name = "reflective"

    def operator_for(self, generation: int, slot: int, n_members: int) -> str:
        op = ROTATION[(generation * 7 + slot) % len(ROTATION)]
        return "reflect" if op == "merge" and n_members < 2 else op


register_strategy(ReflectiveStrategy())
