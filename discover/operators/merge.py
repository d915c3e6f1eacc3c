"""Merge of two front members for prompt targets (`merge`), after GEPA's merge (Agrawal et al. 2025): two parents
drawn from the Pareto front usually win different examples; the optimizer sees both instructions with the
examples only each of them gets right and writes one instruction meant to keep both strengths. The child takes the
demos (and other parts) of the parent with the better train score.

With no optimizer answer (budget spent, unusable text, or a repeat) the merge is a crossover of parts that needs
no LLM: the better parent's instruction with the other parent's demos, when that is a new candidate; else a demo
move on the better parent."""

from __future__ import annotations

from discover.operators.base import CandidateView, Proposal, ProposeContext, render
from discover.operators.demos import demo_proposal, known_fingerprints, stored_parts
from discover.operators.opro_prompt import clip
from discover.operators.reflect import ask_for_instruction, description, finished
from discover.operators.registry import register_operator
from discover.prompting.parts import encode

SHOWN = 3  # examples per side


def only_right(ctx: ProposeContext, a: CandidateView, b: CandidateView) -> str:
    sa = a.outcome.instances if a.outcome is not None else {}
    sb = b.outcome.instances if b.outcome is not None else {}
    pool = [e for e in ctx.target.task.train if sa.get(e.id, 0) >= 1 and sb.get(e.id, 0) < 1]
    picks = ctx.rng.sample(pool, min(SHOWN, len(pool)))
    return "\n".join(render("prompt/right_example.txt", input=clip(e.input, 300), target=e.target)
                     for e in picks).strip() or "(none)"


class MergeOperator:
    name = "merge"
    kinds = ("prompt",)
    parents = 2

    def _crossover(self, ctx: ProposeContext, better: CandidateView, other: CandidateView, why: str) -> Proposal:
        mixed = stored_parts(ctx, better).with_demos(stored_parts(ctx, other).demos)
        content = encode(mixed)
        if ctx.target.fingerprint(content) not in known_fingerprints(ctx):
            return Proposal(operator=self.name, parents=[better, other], content=content,
                            thought=f"crossover: {better.id}'s instruction, {other.id}'s demos",
                            meta={"crossover": True, "fallback": why})
        return demo_proposal(ctx, better, ctx.rng, note=why + "; crossover repeats a candidate")

    async def propose(self, ctx: ProposeContext) -> Proposal:
        if len(ctx.parents) < 2:
            parent = ctx.parents[0] if ctx.parents else ctx.best
            return demo_proposal(ctx, parent, ctx.rng, note="merge needs two front members")
        a, b = sorted(ctx.parents[:2], key=lambda v: -(v.score or 0))
        pa, pb = stored_parts(ctx, a), stored_parts(ctx, b)
        if pa.instruction.strip() == pb.instruction.strip():
            return self._crossover(ctx, a, b, "the two parents share their instruction")
        prompt = render("prompt/merge.txt", description=description(ctx), first=pa.instruction or "(empty)",
                        second=pb.instruction or "(empty)", first_only=only_right(ctx, a, b),
                        second_only=only_right(ctx, b, a))
        instruction, why = await ask_for_instruction(ctx, prompt)
        if instruction is None:
            return self._crossover(ctx, a, b, why)
        child = finished(ctx, self.name, [a, b], pa, instruction, {"merged": [a.id, b.id]})
        return child or self._crossover(ctx, a, b, "the merged instruction repeats an existing candidate")


register_operator(MergeOperator())
