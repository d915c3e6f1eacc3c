"""EoH/AEL operators (Liu et al., "Evolution of Heuristics", ICML 2024; AEL 2023): each candidate is a one-
sentence thought plus code. i1 creates from scratch; e1 explores a different form, e2 builds on the common
backbone of several parents; m1 modifies, m2 re-parameterises, m3 simplifies one parent."""

from __future__ import annotations

from discover.strategies.base import (
    Proposal, SlotContext, build_messages, candidate_block, lessons_block, rank_select, render, task_block,
)

EVOLVE_OPERATORS = ("e1", "e2", "m1", "m2", "m3")
PARENTS_PER_OPERATOR = {"i1": 0, "e1": 2, "e2": 2, "m1": 1, "m2": 1, "m3": 1}


class EoHStrategy:
    name = "eoh"

    def __init__(self, operators: tuple[str, ...] = EVOLVE_OPERATORS) -> None:
        self.operators = operators

    def operator_for(self, ctx: SlotContext) -> str:
        if ctx.generation == 0 or not ctx.population:
            return "i1"
        op = self.operators[(ctx.generation * 7 + ctx.slot) % len(self.operators)]
        if PARENTS_PER_OPERATOR[op] > len(ctx.population):
            return "m1"
        return op

    def propose(self, ctx: SlotContext) -> Proposal:
        op = self.operator_for(ctx)
        parents = rank_select(ctx.population, PARENTS_PER_OPERATOR[op], ctx.rng)
        parents_text = "\n".join(candidate_block(p, f"{i + 1}") for i, p in enumerate(parents))
        user = render(f"eoh/{op}.txt", task=task_block(ctx.problem, ctx.prefill), parents=parents_text, count=len(parents),
                      lessons=lessons_block(ctx.lessons))
        messages, prefix = build_messages(ctx, user)
        return Proposal(operator=op, parents=parents, messages=messages, prefix=prefix)
