"""OPRO (Yang et al., "Large Language Models as Optimizers", ICLR 2024) for code: the meta-prompt shows the top-k
previous solutions with their scores in ascending order of quality, the best last, and asks for a better one."""

from __future__ import annotations

from discover.operators.base import (
    Proposal, ProposeContext, build_messages, candidate_block, lessons_block, render, task_block,
)
from discover.operators.registry import register_operator


class OPROCodeOperator:
    name = "opro"
    kinds = ("code",)
    parents = 0  # it shows the top of the archive itself

    def __init__(self, top_k: int = 6) -> None:
        self.top_k = top_k

    async def propose(self, ctx: ProposeContext) -> Proposal:
        shown = ctx.members[: self.top_k]  # best first
        ascending = list(reversed(shown))   # worst first, best last
        # Only the best one carries its feedback: it is what the next answer should improve on.
        history = "\n".join(
            candidate_block(c, f"{i + 1}", with_feedback=(c is ascending[-1])) for i, c in enumerate(ascending)
        ) if ascending else "(none yet)"
        user = render("opro.txt", task=task_block(ctx.target.problem, ctx.prefill), history=history,
                      lessons=lessons_block(ctx.lessons))
        messages, prefix = build_messages(ctx, user)
        return Proposal(operator="opro", parents=shown[:1], messages=messages, prefix=prefix)


register_operator(OPROCodeOperator())
