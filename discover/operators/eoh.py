"""EoH/AEL operators (Liu et al., "Evolution of Heuristics", ICML 2024; AEL 2023): each candidate is a one-
sentence thought plus code. i1 creates from scratch; e1 explores a different form, e2 builds on the common
backbone of several parents; m1 modifies, m2 re-parameterises, m3 simplifies one parent. The parents are chosen
by the archive (rank-based by default); the strategy in discover/operators/strategies.py says which operator
each proposal uses."""

from __future__ import annotations

from discover.operators.base import (
    Proposal, ProposeContext, build_messages, candidate_block, lessons_block, render, task_block,
)
from discover.operators.registry import register_operator

PARENTS_PER_OPERATOR = {"i1": 0, "e1": 2, "e2": 2, "m1": 1, "m2": 1, "m3": 1}


class EoHOperator:
    kinds = ("code",)

    def __init__(self, name: str) -> None:
        self.name = name
        self.parents = PARENTS_PER_OPERATOR[name]

    async def propose(self, ctx: ProposeContext) -> Proposal:
        parents = ctx.parents
        parents_text = "\n".join(candidate_block(p, f"{i + 1}") for i, p in enumerate(parents))
        user = render(f"eoh/{self.name}.txt", task=task_block(ctx.target.problem, ctx.prefill), parents=parents_text,
                      count=len(parents), lessons=lessons_block(ctx.lessons))
        messages, prefix = build_messages(ctx, user)
        return Proposal(operator=self.name, parents=parents, messages=messages, prefix=prefix)


for _name in PARENTS_PER_OPERATOR:
    register_operator(EoHOperator(_name))
