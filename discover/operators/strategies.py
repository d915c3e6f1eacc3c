"""Strategies are operator schedules: which operator each proposal uses. (Repairs of failed candidates are
scheduled by the loop before the strategy is asked; see discover/engine/loop.py.)"""

from __future__ import annotations

from discover.operators.eoh import PARENTS_PER_OPERATOR
from discover.operators.registry import register_strategy

EVOLVE_OPERATORS = ("e1", "e2", "m1", "m2", "m3")


class EoHStrategy:
    """i1 until there is something to evolve, then e1/e2/m1/m2/m3 in a fixed rotation (EoH uses all five each
    generation); an operator that needs more parents than the archive has falls back to m1."""

    name = "eoh"

    def operator_for(self, generation: int, slot: int, n_members: int) -> str:
        if generation == 0 or n_members == 0:
            return "i1"
        op = EVOLVE_OPERATORS[(generation * 7 + slot) % len(EVOLVE_OPERATORS)]
        return "m1" if PARENTS_PER_OPERATOR[op] > n_members else op


class OPROStrategy:
    name = "opro"

    def operator_for(self, generation: int, slot: int, n_members: int) -> str:
        return "opro"


register_strategy(EoHStrategy())
register_strategy(OPROStrategy())
