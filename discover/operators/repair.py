"""Repair: a candidate that failed (raised, broke the problem's rules, crashed, ran out of time or memory) gets one
LLM attempt to fix it, shown its code, its trimmed error and where it failed, instead of being discarded. The idea
is Trace/OptoPrime's (Cheng et al. 2024): the optimizer sees the execution feedback of the very thing it changes.
The loop schedules repairs (one per failed candidate, never a repair of a repair) before asking the strategy."""

from __future__ import annotations

from discover.operators.base import Proposal, ProposeContext, build_messages, render, task_block
from discover.operators.registry import register_operator

REPAIRABLE = ("error", "invalid", "crash", "timeout", "memory")
MAX_ERROR_LINES = 12


def _trimmed(text: str | None) -> str:
    lines = (text or "").strip().splitlines()
    kept = [line for line in lines if not line.startswith(("Do more of:", "Stop doing:"))]
    return "\n".join(kept[:MAX_ERROR_LINES]) or "(no error text)"


class RepairOperator:
    name = "repair"
    kinds = ("code",)
    parents = 1  # the failed candidate, chosen by the loop

    async def propose(self, ctx: ProposeContext) -> Proposal:
        failed = ctx.parents[0]
        user = render("repair.txt", task=task_block(ctx.target.problem, ctx.prefill), thought=failed.thought or "(none given)",
                      code=failed.code.strip(), error=_trimmed(failed.feedback))
        messages, prefix = build_messages(ctx, user)
        return Proposal(operator=self.name, parents=[failed], messages=messages, prefix=prefix,
                        meta={"repair_of": failed.id})


register_operator(RepairOperator())
