"""OPRO (Yang et al., "Large Language Models as Optimizers", ICLR 2024): the meta-prompt shows the top-k previous
solutions with their scores in ascending order of quality, the best last, and asks for a better one."""

from __future__ import annotations

from discover.strategies.base import (
    Proposal, SlotContext, build_messages, candidate_block, lessons_block, render, task_block,
)


class OPROStrategy:
    name = "opro"

    def __init__(self, top_k: int = 6) -> None:
        self.top_k = top_k

    def propose(self, ctx: SlotContext) -> Proposal:
        shown = ctx.population[: self.top_k]  # best first
        ascending = list(reversed(shown))      # worst first, best last
        # Only the best one carries its feedback: it is what the next answer should improve on.
        history = "\n".join(
            candidate_block(c, f"{i + 1}", with_feedback=(c is ascending[-1])) for i, c in enumerate(ascending)
        ) if ascending else "(none yet)"
        user = render("opro.txt", task=task_block(ctx.problem, ctx.prefill), history=history, lessons=lessons_block(ctx.lessons))
        messages, prefix = build_messages(ctx, user)
        return Proposal(operator="opro", parents=shown[:1], messages=messages, prefix=prefix)
